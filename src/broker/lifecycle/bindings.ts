import {bindingExpiresAt} from '../../core/binding-expiry.js'
import {badRequest, concurrencyError, conflict, gone, notFound, OsbError} from '../../core/errors.js'
import type {PlanDef} from '../../catalog/index.js'
import type {Binding, BindingCredentials, Host, ServiceInstance} from '../../core/types.js'
import {isUniqueViolation} from '../../store/index.js'
import {bindingCredentials, bindingUser} from '../credentials.js'
import type {BindBody, BindResponse, DeleteQuery, FetchBindingResponse, Reply, RequestMeta} from '../osb-schema.js'
import {validateParameters} from '../parameters.js'
import type {BindingUsers} from './binding-users.js'
import {canonical, isEmpty, type LifecycleContext, planOf, resolvePlan} from './context.js'
import type {HostWait} from './host-wait.js'
import {type OperationRunner, type Outcome, Undone} from './operations.js'
import {givenBindingCredentials, givenCredentials} from './plan-kinds.js'
import {beginOperation, changes} from './transition.js'

/** Bindings: bind (a user of its own, or the instance's), fetch, unbind, and the bodies they answer with. */
export class Bindings {
  constructor(
    private readonly ctx: LifecycleContext,
    private readonly runner: OperationRunner,
    private readonly hosts: HostWait,
    private readonly users: BindingUsers,
  ) {}

  async bind(instanceId: string, bindingId: string, body: BindBody, meta: RequestMeta): Promise<Reply> {
    const {store, catalog} = this.ctx
    const {service} = resolvePlan(catalog, body.service_id, body.plan_id)
    const instance = await store.getInstance(instanceId)
    if (!instance || instance.state === 'provisioning') throw notFound(`instance ${instanceId} does not exist`)
    if (instance.serviceId !== service.id)
      throw badRequest(`instance ${instanceId} is not an instance of ${service.name}`)
    // The rules (bindable, requires_app, schema, credentials) are the instance's plan's, whatever plan_id the request names.
    const {plan} = planOf(catalog, instance)
    if (!(plan.bindable ?? service.bindable)) throw badRequest(`plan ${plan.name} of ${service.name} is not bindable`)
    const bindResource = isEmpty(body.bind_resource) ? undefined : body.bind_resource
    const appGuid = (typeof bindResource?.app_guid === 'string' ? bindResource.app_guid : undefined) ?? body.app_guid
    if (plan.requires_app && !appGuid)
      throw new OsbError(422, `plan ${plan.name} needs an application: send bind_resource.app_guid`, 'RequiresApp')
    const parameters = body.parameters ?? {}
    validateParameters(plan.schemas?.service_binding?.create?.parameters, parameters)
    const expiresAt = bindingExpiresAt(body.context, this.ctx.clock.now())
    const requestKey = canonical({
      instance_id: instanceId,
      service_id: body.service_id,
      plan_id: body.plan_id,
      app_guid: appGuid,
      bind_resource: bindResource,
      parameters,
    })
    const created = async (): Promise<Reply<BindResponse>> => ({status: 200, body: await this.bindResponse(bindingId)})

    for (let attempt = 0; ; attempt++) {
      const existing = await store.getBinding(bindingId)
      if (existing) {
        if (existing.requestKey !== requestKey)
          throw conflict(`binding ${bindingId} already exists with different attributes`)
        if (existing.state === 'bound') return created()
        const op = await store.latestOperation(instanceId, bindingId)
        if (existing.state === 'binding' && op)
          return meta.acceptsIncomplete ? {status: 202, body: {operation: op.id}} : this.runner.outcome(op, created)
        throw concurrencyError(`binding ${bindingId} is being removed`)
      }
      if (instance.state !== 'ready')
        throw concurrencyError(
          `instance ${instanceId} is being ${instance.state === 'updating' ? 'updated' : 'deprovisioned'}`,
        )
      const host = await this.hosts.hostOf(instance, meta)
      // A user made ahead of time answers the bind without waiting for an exec in the container.
      const spare = await this.users.claimSpare(instance)
      const binding: Binding = {
        id: bindingId,
        instanceId,
        serviceId: service.id,
        planId: plan.id,
        state: 'binding',
        appGuid: appGuid ?? null,
        bindResource: bindResource ?? null,
        parameters,
        context: body.context ?? {},
        credentials: this.credentialsFor(instance, plan, host, spare),
        createdAt: this.ctx.clock.now(),
        expiresAt,
      }
      const op = this.hosts.describe(this.runner.newOperation('bind', instanceId, bindingId, requestKey, meta), host)
      try {
        await beginOperation(this.ctx, changes.bindingCreated(binding, requestKey), op)
      } catch (error) {
        if (spare) await this.users.returnSpare(instanceId, spare)
        if (isUniqueViolation(error) && attempt < 5) continue
        throw error
      }
      this.runner.start(`b:${bindingId}`, op, (signal) =>
        this.runBind(instance, binding, host, op.createdAt, signal, spare !== undefined),
      )
      if (spare) void this.users.fillSpares(instanceId)
      return this.runner.reply(op, meta, async () => ({status: 201, body: await this.bindResponse(bindingId)}))
    }
  }

  /** Given credentials (static, or an adopted container's), else the user the binding gets in the service. */
  private credentialsFor(
    instance: ServiceInstance,
    plan: PlanDef,
    host: Host,
    spare: {username: string; password: string} | undefined,
  ): BindingCredentials {
    const given = givenCredentials(plan.kind)
    if (given) return givenBindingCredentials(given)
    // A binding in a container of many also learns its instance's namespace there (redis: key_prefix).
    return {
      ...bindingCredentials(instance, plan, host, spare ?? bindingUser(instance, plan)),
      ...instance.credentials.namespace,
    }
  }

  async runBind(
    instance: ServiceInstance,
    binding: Binding,
    host: Host,
    since: number,
    signal?: AbortSignal,
    userExists = false,
  ): Promise<Outcome> {
    let reached: Host | undefined
    try {
      const back = await this.hosts.containerBack(instance, host, since, signal)
      reached = back.host
      // A spare user made before the host died may have gone with a wiped volume: make it again.
      if (!userExists || back.waited) await this.users.create(back.host, instance, binding.credentials)
    } catch (error) {
      // Leave no user nobody tracks: drop what the hook may have made, or hand an unused spare back.
      if (reached) await this.users.forget(reached, instance, binding)
      else if (userExists) await this.users.returnSpare(instance.id, binding.credentials).catch(() => undefined)
      throw new Undone(error, changes.bindingRemoved(binding, 'bind', 'failed'))
    }
    return {description: 'the binding is ready', change: changes.bindingMoved(binding, 'bind', ['binding'], 'bound')}
  }

  async fetch(instanceId: string, bindingId: string): Promise<Reply<FetchBindingResponse>> {
    const binding = await this.ctx.store.getBinding(bindingId)
    if (!binding || binding.instanceId !== instanceId || binding.state === 'binding')
      throw notFound(`binding ${bindingId} does not exist`)
    const {service} = resolvePlan(this.ctx.catalog, binding.serviceId, binding.planId)
    if (!service.bindings_retrievable) throw badRequest(`bindings of ${service.name} are not retrievable`)
    if (binding.state === 'unbinding') throw concurrencyError(`binding ${bindingId} is being removed`)
    return {status: 200, body: {...this.bindingBody(binding), parameters: binding.parameters}}
  }

  /** PUT's answer: only the fields the spec gives a binding response (parameters belong to GET). */
  private async bindResponse(bindingId: string): Promise<BindResponse> {
    const binding = await this.ctx.store.getBinding(bindingId)
    if (!binding) throw notFound(`binding ${bindingId} does not exist`)
    return this.bindingBody(binding)
  }

  private bindingBody(binding: Binding): BindResponse {
    const {service} = resolvePlan(this.ctx.catalog, binding.serviceId, binding.planId)
    return {
      credentials: binding.credentials,
      endpoints: [{host: binding.credentials.host, ports: [String(binding.credentials.port)], protocol: 'tcp'}],
      // The catalog makes a drain service's uri a drain URL (syslog://host:port for the log collector).
      ...(service.requires?.includes('syslog_drain') ? {syslog_drain_url: binding.credentials.uri} : {}),
      metadata: {},
    }
  }

  async unbind(instanceId: string, bindingId: string, query: DeleteQuery, meta: RequestMeta): Promise<Reply> {
    if (!query.service_id || !query.plan_id) throw badRequest('service_id and plan_id are required query parameters')
    const {store} = this.ctx
    const binding = await store.getBinding(bindingId)
    if (!binding || binding.instanceId !== instanceId) throw gone()
    const instance = await store.getInstance(instanceId)
    if (!instance) throw gone()
    const ok = (): Reply => ({status: 200, body: {}})
    if (binding.state === 'unbinding') {
      const op = await store.latestOperation(instanceId, bindingId)
      if (op && op.kind === 'unbind' && op.state === 'in progress') return this.runner.reply(op, meta, ok)
    }
    if (binding.state === 'binding') throw concurrencyError(`binding ${bindingId} is still being created`)
    const host = await this.hosts.hostOf(instance, meta)
    const op = this.hosts.describe(
      this.runner.newOperation('unbind', instanceId, bindingId, canonical(query), meta),
      host,
    )
    if (
      !(await beginOperation(
        this.ctx,
        changes.bindingMoved(binding, 'unbind', ['bound', 'failed', 'unbinding'], 'unbinding'),
        op,
      ))
    ) {
      throw concurrencyError(`binding ${bindingId} is being changed by another request`)
    }
    this.runner.start(`b:${bindingId}`, op, (signal) => this.runUnbind(instance, binding, host, op.createdAt, signal))
    return this.runner.reply(op, meta, ok)
  }

  async runUnbind(
    instance: ServiceInstance,
    binding: Binding,
    host: Host,
    since: number,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    try {
      const live = (await this.hosts.containerBack(instance, host, since, signal)).host
      await this.users.revoke(live, instance, binding.credentials.username)
    } catch (error) {
      throw new Undone(error, changes.bindingMoved(binding, 'unbind', ['unbinding'], 'bound'))
    }
    return {
      description: 'the binding is gone and its credentials revoked',
      change: changes.bindingRemoved(binding, 'unbind'),
    }
  }
}
