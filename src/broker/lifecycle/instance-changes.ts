import {planContainer} from '../../catalog/index.js'
import type {AgentClient} from '../../core/agent.js'
import {asyncRequired, badRequest, concurrencyError, errorMessage, gone, notFound, OsbError} from '../../core/errors.js'
import type {Host, ServiceInstance} from '../../core/types.js'
import {leaseLost} from '../lease-fence.js'
import type {DeleteQuery, Reply, RequestMeta, UpdateBody} from '../osb-schema.js'
import {checkDiskChange, DISK_SIZE, parseDiskSizeParameter, withoutDiskSize} from '../disk-parameters.js'
import {validateParameters} from '../parameters.js'
import {buildSpec} from '../spec.js'
import type {BindingUsers} from './binding-users.js'
import {
  canonical,
  checkMaintenance,
  isEmpty,
  type LifecycleContext,
  planOf,
  resolvePlan,
  updatedRequestKey,
} from './context.js'
import type {HostWait} from './host-wait.js'
import {deprovisioned, type KindLifecycle} from './kind-lifecycle.js'
import {kindOf} from './plan-kinds.js'
import {KindUpdates} from './kind-updates.js'
import {requestedMaintenance} from './instances.js'
import {type OperationRunner, type Outcome, Undone} from './operations.js'
import {beginOperation, changes, type InstancePatch} from './transition.js'

const ok = (): Reply => ({status: 200, body: {}})

/** Changing an instance that exists: update (recreate keeping volume, port and credentials) and deprovision. */
export class InstanceChanges {
  constructor(
    private readonly ctx: LifecycleContext,
    private readonly runner: OperationRunner,
    private readonly hosts: HostWait,
    private readonly users: BindingUsers,
    private readonly kinds: KindLifecycle,
  ) {
    this.kindUpdates = new KindUpdates(ctx, runner, hosts)
  }

  private readonly kindUpdates: KindUpdates

  async update(instanceId: string, body: UpdateBody, meta: RequestMeta): Promise<Reply> {
    const {catalog, store} = this.ctx
    const instance = await store.getInstance(instanceId)
    if (!instance || instance.state === 'provisioning') throw notFound(`instance ${instanceId} does not exist`)
    if (body.service_id !== instance.serviceId)
      throw badRequest(`service_id ${body.service_id} is not the service of instance ${instanceId}`)
    const current = planOf(catalog, instance)
    const target = body.plan_id ? resolvePlan(catalog, body.service_id, body.plan_id) : current
    const planChanged = target.plan.id !== instance.planId
    // plan_updateable is the current plan's (or its service's) word on leaving it: name it, and the plan asked for.
    if (planChanged && !catalog.planUpdateable(current.service, current.plan)) {
      throw new OsbError(
        422,
        `instance ${instanceId} cannot move from plan ${current.plan.name} to plan ${target.plan.name} of ${current.service.name}: plan ${current.plan.name} is not plan_updateable; provision a new instance of plan ${target.plan.name} instead`,
      )
    }
    checkMaintenance(target.plan, requestedMaintenance(body.maintenance_info))
    const given = isEmpty(body.parameters) ? undefined : body.parameters
    // A database in a container of many, an adopted container or none at all: nothing to remake, data stays where it is.
    if (current.plan.kind.type !== 'dedicated' || target.plan.kind.type !== 'dedicated') {
      return this.kindUpdates.update(instance, current, target, body, given, meta)
    }
    // disk_size is dbroker's: the plan's schema and the "parameters cannot be changed" rule are about the image's.
    const newParameters = given && !isEmpty(withoutDiskSize(given)) ? withoutDiskSize(given) : undefined
    const diskSize = given?.[DISK_SIZE]
    if (diskSize !== undefined) {
      if (!target.plan.container?.disk)
        throw badRequest(
          `invalid parameters: ${DISK_SIZE}: plan ${target.plan.name} of ${target.service.name} has no disk`,
        )
      parseDiskSizeParameter(diskSize)
    }
    if (newParameters) validateParameters(target.plan.schemas?.service_instance?.update?.parameters, newParameters)
    if (instance.state !== 'ready')
      throw concurrencyError(
        `instance ${instanceId} is being ${instance.state === 'updating' ? 'updated' : 'deprovisioned'}`,
      )
    if (newParameters && !catalog.planUpdateable(current.service, current.plan) && !planChanged) {
      throw new OsbError(422, `parameters of plan ${current.plan.name} of ${current.service.name} cannot be changed`)
    }
    // A plan change takes the new plan's disk size unless this request sizes it.
    const kept = planChanged ? withoutDiskSize(instance.parameters) : instance.parameters
    const parameters = {...kept, ...newParameters, ...(diskSize !== undefined ? {[DISK_SIZE]: diskSize} : {})}
    const maintenanceInfo = target.plan.maintenance_info ? {version: target.plan.maintenance_info.version} : null
    const host = await this.hosts.hostOf(instance, meta)
    const ports = planContainer(target.plan).ports.map((containerPort) =>
      instance.spec.ports.find((p) => p.container === containerPort),
    )
    if (ports.some((p) => p === undefined))
      throw new OsbError(
        422,
        `plan ${target.plan.name} exposes other ports than plan ${current.plan.name}; provision a new instance instead`,
      )
    const spec = buildSpec({
      instanceId,
      installationId: await store.installationId(),
      previous: instance.spec,
      service: target.service,
      plan: target.plan,
      host,
      ports: ports as NonNullable<(typeof ports)[number]>[],
      credentials: instance.credentials,
      parameters,
    })
    checkDiskChange(instance.spec, spec, host)
    const requestKey = updatedRequestKey(instance, target.plan.id, parameters)
    const contextChanged = !isEmpty(body.context) && canonical(body.context) !== canonical(instance.context)
    if (
      canonical(spec) === canonical(instance.spec) &&
      canonical(maintenanceInfo) === canonical(instance.maintenanceInfo)
    ) {
      if (contextChanged) await store.updateInstance(instanceId, {context: body.context})
      return ok()
    }
    if (target.plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    const op = this.hosts.describe(this.runner.newOperation('update', instanceId, null, requestKey, meta), host)
    if (!(await beginOperation(this.ctx, changes.instanceMoved(instanceId, 'update', ['ready'], 'updating'), op))) {
      throw concurrencyError(`instance ${instanceId} is being changed by another request`)
    }
    const patch = {
      planId: target.plan.id,
      parameters,
      spec,
      maintenanceInfo,
      requestKey,
      ...(contextChanged ? {context: body.context} : {}),
    }
    this.runner.start(`i:${instanceId}`, op, (signal) => this.runUpdate(instance, host, patch, op.createdAt, signal))
    return this.runner.reply(op, meta, ok)
  }

  private async runUpdate(
    instance: ServiceInstance,
    host: Host,
    patch: InstancePatch & {spec: ServiceInstance['spec']},
    since: number,
    signal: AbortSignal,
  ): Promise<Outcome> {
    let agent: AgentClient | undefined
    // A host that was dead may come back wiped: the container this makes then has a new volume, without the binding users.
    let waited = false
    try {
      const live = await this.hosts.hostBack(instance, host, since, signal)
      waited = live !== host
      agent = this.ctx.agentFor(live)
      await agent.apply(patch.spec, {signal})
    } catch (error) {
      if (leaseLost(signal)) throw error
      // A failed update changes nothing: bring the old container back (a host that never came back still runs it).
      await agent
        ?.apply(instance.spec)
        .catch((e) => this.ctx.log.error(`rollback of ${instance.id} failed: ${errorMessage(e)}`))
      if (agent && waited) await this.users.replay(instance.id)
      throw new Undone(
        new Error(`${errorMessage(error)}; the instance runs as before`),
        changes.instanceMoved(instance.id, 'update', ['updating'], 'ready'),
      )
    }
    if (waited) await this.users.replay(instance.id)
    return {description: 'the instance was updated', change: changes.instanceUpdated(instance.id, patch)}
  }

  /** What an update a broker restart interrupted leaves: the old container, the old state, and a failed operation. */
  async abandonUpdate(instance: ServiceInstance, host: Host, since: number, signal: AbortSignal): Promise<never> {
    const kind = kindOf(this.ctx.catalog, instance)
    if (kind.type !== 'dedicated') return this.kindUpdates.abandon(instance, kind, host, since, signal)
    const back = changes.instanceMoved(instance.id, 'update', ['updating'], 'ready')
    try {
      await this.ctx.agentFor(await this.hosts.hostBack(instance, host, since, signal)).apply(instance.spec)
    } catch (error) {
      throw new Undone(error, back)
    }
    throw new Undone(new Error('interrupted by a broker restart; nothing was changed'), back)
  }

  async deprovision(instanceId: string, query: DeleteQuery, meta: RequestMeta): Promise<Reply> {
    if (!query.service_id || !query.plan_id) throw badRequest('service_id and plan_id are required query parameters')
    const {store} = this.ctx
    let instance = await store.getInstance(instanceId)
    if (!instance) throw gone()
    if (query.service_id !== instance.serviceId)
      throw badRequest(`service_id ${query.service_id} is not the service of instance ${instanceId}`)
    if (instance.state === 'provisioning') {
      // Stop the provision where it stands; its own cleanup removes what it made.
      const task = this.runner.running(`i:${instanceId}`)
      if (!task) throw concurrencyError(`instance ${instanceId} is being provisioned by another broker`)
      task.abort.abort(new Error('a deprovision request arrived'))
      await task.done
      instance = await store.getInstance(instanceId)
      if (!instance) return ok()
    }
    if (instance.state === 'deprovisioning') {
      const op = await store.latestOperation(instanceId)
      if (op && op.kind === 'deprovision' && op.state === 'in progress') return this.runner.reply(op, meta, ok)
    }
    if (instance.state === 'updating') throw concurrencyError(`instance ${instanceId} is being updated`)
    const {plan} = planOf(this.ctx.catalog, instance)
    if (plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    const host = await this.hosts.hostOf(instance, meta)
    const op = this.hosts.describe(
      this.runner.newOperation('deprovision', instanceId, null, canonical(query), meta),
      host,
    )
    const previous = instance.state === 'deprovisioning' ? 'ready' : instance.state
    if (
      !(await beginOperation(
        this.ctx,
        changes.instanceMoved(instanceId, 'deprovision', ['ready', 'failed', 'deprovisioning'], 'deprovisioning'),
        op,
      ))
    ) {
      throw concurrencyError(`instance ${instanceId} is being changed by another request`)
    }
    const current = instance
    this.runner.start(`i:${instanceId}`, op, (signal) =>
      this.runDeprovision(current, host, previous, op.createdAt, signal),
    )
    return this.runner.reply(op, meta, ok)
  }

  async runDeprovision(
    instance: ServiceInstance,
    host: Host,
    previous: ServiceInstance['state'],
    since: number,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    if (kindOf(this.ctx.catalog, instance).type !== 'dedicated')
      return this.kinds.runDeprovision(instance, host, previous, since, signal)
    try {
      await this.ctx.agentFor(await this.hosts.hostBack(instance, host, since, signal)).remove(instance.id)
    } catch (error) {
      throw new Undone(error, changes.instanceMoved(instance.id, 'deprovision', ['deprovisioning'], previous))
    }
    return deprovisioned(this.ctx, instance.id)
  }
}
