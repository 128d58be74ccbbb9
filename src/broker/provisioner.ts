import {randomUUID} from 'node:crypto'
import {setTimeout as sleep} from 'node:timers/promises'

import type {Catalog, PlanDef, ServiceDef} from '../catalog/index.js'
import type {AgentClient} from '../core/agent.js'
import {asyncRequired, badRequest, concurrencyError, conflict, errorMessage, gone, notFound, OsbError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Binding, ContainerSpec, Host, Operation, OperationKind, ServiceInstance} from '../core/types.js'
import {isUniqueViolation, PortRangeFullError, type Store, type StoredInstance} from '../store/index.js'
import {bindingCredentials, bindingUser, instanceCredentials} from './credentials.js'
import type {BrokerEvents} from './events.js'
import {fenced, leaseLost, LeaseLostError, runFenced} from './lease-fence.js'
import {validateParameters} from './parameters.js'
import {isLive, type PlacementStrategy, placeInstance} from './placement.js'
import {describeUnreachable, describeWait, isUnreachableFailure} from './reachability.js'
import {buildSpec} from './spec.js'

export interface RequestMeta {
  acceptsIncomplete: boolean
  originatingIdentity: string | null
  requestIdentity: string | null
}

/** What a route sends back: status and the body before the version dialect trims it. */
export interface Reply {
  status: number
  body: Record<string, unknown>
}

export interface ProvisionBody {
  service_id: string
  plan_id: string
  organization_guid: string
  space_guid: string
  context?: Record<string, unknown>
  parameters?: Record<string, unknown>
  maintenance_info?: {version: string}
}

export interface UpdateBody {
  service_id: string
  plan_id?: string
  context?: Record<string, unknown>
  parameters?: Record<string, unknown>
  maintenance_info?: {version: string}
}

export interface BindBody {
  service_id: string
  plan_id: string
  app_guid?: string
  bind_resource?: Record<string, unknown>
  context?: Record<string, unknown>
  parameters?: Record<string, unknown>
}

export interface ProvisionerOptions {
  store: Store
  catalog: Catalog
  /** The agent that runs a host's containers: in-process for `up`, HTTP for a remote host. */
  agentFor: (host: Host) => AgentClient
  events: BrokerEvents
  log: Logger
  brokerId: string
  keepaliveMs: number
  strategy?: PlacementStrategy
}

interface Task {
  operationId: string
  abort: AbortController
  done: Promise<void>
}

/** Stable JSON with sorted keys: two requests are identical when their keys are equal. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

const isEmpty = (value: object | undefined) => !value || Object.keys(value).length === 0

/** Users kept ready in each per-binding instance, for fast binds. */
const SPARE_USERS = 2

/** How long an async request waits for a dead host when its plan sets no maximum_polling_duration. */
export const DEFAULT_POLLING_SECONDS = 3600

/** The host port in Docker's "address already in use" / "port is already allocated" errors. */
export function busyPort(message: string): number | undefined {
  if (!/address already in use|port is already allocated/.test(message)) return undefined
  const match = /:(\d+)(?::\s*bind| failed)/.exec(message)
  return match ? Number(match[1]) : undefined
}

const heartbeatAge = (host: Host) => Math.round((Date.now() - host.lastHeartbeat) / 1000)

/**
 * The lifecycle of instances and bindings. Each change is an operation in the
 * store; work runs in the background for async requests and is awaited for
 * sync ones. Every step is idempotent, so a broker that restarts resumes it.
 */
export class Provisioner {
  private readonly tasks = new Map<string, Task>()
  private readonly filling = new Map<string, Promise<void>>()
  private readonly store: Store
  private readonly catalog: Catalog
  private readonly options: ProvisionerOptions

  constructor(options: ProvisionerOptions) {
    // Operations reach the store and the agents through the lease fence: after `abandon` they change nothing more.
    this.options = {...options, store: fenced(options.store), agentFor: (host) => fenced(options.agentFor(host))}
    this.store = this.options.store
    this.catalog = options.catalog
  }

  // plans and hosts

  private resolvePlan(serviceId: string, planId: string): {service: ServiceDef; plan: PlanDef} {
    const found = this.catalog.plan(planId)
    if (!found) throw badRequest(`plan ${planId} is not in the catalog`)
    if (found.service.id !== serviceId) throw badRequest(`plan ${planId} does not belong to service ${serviceId}`)
    return found
  }

  private planOf(instance: ServiceInstance): {service: ServiceDef; plan: PlanDef} {
    const found = this.catalog.plan(instance.planId)
    if (!found) throw new OsbError(500, `plan ${instance.planId} of instance ${instance.id} is no longer in the catalog`)
    return found
  }

  private checkMaintenance(plan: PlanDef, requested: {version: string} | undefined): void {
    if (requested && requested.version !== plan.maintenance_info?.version) {
      throw new OsbError(
        422,
        `maintenance_info.version ${requested.version} does not match the catalog's ${plan.maintenance_info?.version ?? '(none)'} for plan ${plan.name}`,
        'MaintenanceInfoConflict',
      )
    }
  }

  /**
   * The host an existing instance lives on. A sync request fails fast when it
   * stopped heartbeating; an async one gets it as it is, and its operation
   * waits for it (`hostBack`).
   */
  private async hostOf(instance: ServiceInstance, meta: RequestMeta): Promise<Host> {
    const host = await this.store.getHost(instance.hostId)
    if (!host) throw new OsbError(500, `host ${instance.hostId} of instance ${instance.id} is not registered`)
    if (!isLive(host, this.options.keepaliveMs) && !meta.acceptsIncomplete) {
      throw new OsbError(503, `${describeUnreachable(host)}; try again when it is back, or send accepts_incomplete=true to wait for it`)
    }
    return host
  }

  /**
   * The instance's host once it is live, as the store has it then (its agent
   * URL may have changed). An operation begun while the host was dead waits
   * here, up to the plan's maximum_polling_duration since it began.
   */
  private async hostBack(instance: ServiceInstance, host: Host, since: number, signal?: AbortSignal): Promise<Host> {
    if (isLive(host, this.options.keepaliveMs)) return host
    const {seconds, deadline} = this.pollingLimit(instance, since)
    for (;;) {
      const now = await this.store.getHost(host.id)
      if (!now) throw new Error(`host ${host.id} is no longer registered`)
      if (isLive(now, this.options.keepaliveMs)) {
        this.options.log.info(`host ${host.id} is back: instance ${instance.id} goes on`)
        return now
      }
      if (Date.now() >= deadline) throw new Error(`host ${host.id} did not come back within ${seconds} s (last heartbeat ${heartbeatAge(now)} s ago)`)
      await this.pause(deadline, signal)
    }
  }

  /**
   * `hostBack` for work that runs inside the instance's container (hooks): a
   * host that comes back wiped runs it only once its agent re-made the
   * container. `waited` says the host had been dead.
   */
  private async containerBack(instance: ServiceInstance, host: Host, since: number, signal?: AbortSignal): Promise<{host: Host; waited: boolean}> {
    const live = await this.hostBack(instance, host, since, signal)
    if (live === host) return {host, waited: false}
    const {seconds, deadline} = this.pollingLimit(instance, since)
    const agent = this.options.agentFor(live)
    for (;;) {
      const state = (await agent.list().catch(() => [])).find((c) => c.instanceId === instance.id)
      if (state?.status === 'running') return {host: live, waited: true}
      if (Date.now() >= deadline) throw new Error(`host ${host.id} is back but runs no container for instance ${instance.id} after ${seconds} s`)
      await this.pause(deadline, signal)
    }
  }

  /** An operation on a dead host waits up to the plan's maximum_polling_duration since it began. */
  private pollingLimit(instance: ServiceInstance, since: number): {seconds: number; deadline: number} {
    const seconds = this.planOf(instance).plan.maximum_polling_duration ?? DEFAULT_POLLING_SECONDS
    return {seconds, deadline: since + seconds * 1000}
  }

  private pause(deadline: number, signal?: AbortSignal): Promise<void> {
    return sleep(Math.max(10, Math.min(1000, this.options.keepaliveMs, deadline - Date.now())), undefined, {signal})
  }

  // operations

  private newOperation(kind: OperationKind, instanceId: string, bindingId: string | null, requestKey: string, meta: RequestMeta): Operation {
    const now = Date.now()
    return {
      id: `${kind}-${randomUUID()}`,
      kind,
      instanceId,
      bindingId,
      state: 'in progress',
      description: `${kind} in progress`,
      requestKey,
      originatingIdentity: meta.originatingIdentity,
      requestIdentity: meta.requestIdentity,
      createdAt: now,
      updatedAt: now,
    }
  }

  /** An operation that will wait for a dead host says so while it waits. */
  private waitingFor(op: Operation, host: Host): Operation {
    if (isLive(host, this.options.keepaliveMs)) return op
    return {...op, description: `${op.kind} ${describeWait(host)}`}
  }

  /** Runs an operation's work, records how it ended, and keeps a handle so DELETE can stop it. */
  private start(key: string, op: Operation, work: (signal: AbortSignal) => Promise<string>): Task {
    const abort = new AbortController()
    const done = (async () => {
      let state: 'succeeded' | 'failed' = 'succeeded'
      let description: string
      try {
        description = await runFenced(abort.signal, () => work(abort.signal))
      } catch (error) {
        if (leaseLost(abort.signal)) {
          this.options.log.warn(`${op.kind} ${op.id} stopped here with nothing undone or recorded: ${errorMessage(abort.signal.reason)}`)
          return
        }
        state = 'failed'
        description = abort.signal.aborted ? `${op.kind} was cancelled: ${errorMessage(abort.signal.reason)}` : `${op.kind} failed: ${errorMessage(error)}`
        this.options.log.warn(`${op.kind} of ${op.bindingId ? `binding ${op.bindingId}` : `instance ${op.instanceId}`} failed: ${description}`)
      }
      if (!(await this.store.finishOperation(op.id, state, description, this.options.brokerId))) {
        this.options.log.warn(`${op.kind} ${op.id} was taken over by another broker while it ran here; the outcome here (${state}) is not recorded`)
        return
      }
      this.options.events.emitChange({kind: 'operation', id: op.id, action: op.kind, instanceId: op.instanceId, state, description})
    })().catch((error) => {
      // The store went away under us (closed, connection lost): the operation stays in progress for resume() to finish.
      this.options.log.error(`could not record the end of ${op.kind} ${op.id}: ${errorMessage(error)}`)
    })
    const task = {operationId: op.id, abort, done}
    this.tasks.set(key, task)
    void done.finally(() => {
      if (this.tasks.get(key) === task) this.tasks.delete(key)
    })
    return task
  }

  /** Waits for an operation, here or on another broker sharing the store. */
  private async settle(operationId: string): Promise<Operation> {
    const local = [...this.tasks.values()].find((t) => t.operationId === operationId)
    if (local) await local.done
    for (;;) {
      const op = await this.store.getOperation(operationId)
      if (!op || op.state !== 'in progress') return op!
      await sleep(100)
    }
  }

  /** A sync request answers with the outcome; a failure becomes a 500 with the operation's description. */
  private async outcome(operationId: string, ok: () => Promise<Reply> | Reply): Promise<Reply> {
    const op = await this.settle(operationId)
    if (op.state === 'failed') throw new OsbError(isUnreachableFailure(op.description) ? 503 : 500, op.description)
    return ok()
  }

  private async reply(op: Operation, meta: RequestMeta, ok: () => Promise<Reply> | Reply, extra: Record<string, unknown> = {}): Promise<Reply> {
    if (meta.acceptsIncomplete) return {status: 202, body: {...extra, operation: op.id}}
    return this.outcome(op.id, ok)
  }

  // provision

  async provision(instanceId: string, body: ProvisionBody, meta: RequestMeta): Promise<Reply> {
    const {service, plan} = this.resolvePlan(body.service_id, body.plan_id)
    if (plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    const maintenance = isEmpty(body.maintenance_info) ? undefined : body.maintenance_info
    this.checkMaintenance(plan, maintenance)
    const parameters = body.parameters ?? {}
    validateParameters(plan.schemas?.service_instance?.create?.parameters, parameters)
    const requestKey = canonical({
      service_id: body.service_id,
      plan_id: body.plan_id,
      organization_guid: body.organization_guid,
      space_guid: body.space_guid,
      parameters,
    })

    for (let attempt = 0; ; attempt++) {
      const existing = await this.store.getInstance(instanceId)
      if (existing) return this.provisionAgain(existing, requestKey, meta)
      try {
        return await this.createInstance(instanceId, service, plan, body, parameters, requestKey, meta)
      } catch (error) {
        // A concurrent request inserted the same instance or took the same port: look again.
        if (isUniqueViolation(error) && attempt < 5) continue
        throw error
      }
    }
  }

  private async provisionAgain(existing: StoredInstance, requestKey: string, meta: RequestMeta): Promise<Reply> {
    if (existing.requestKey !== requestKey) throw conflict(`instance ${existing.id} already exists with different attributes`)
    const ok = () => ({status: 200, body: existing.dashboardUrl ? {dashboard_url: existing.dashboardUrl} : {}})
    if (existing.state === 'ready' || existing.state === 'updating') return ok()
    const op = await this.store.latestOperation(existing.id)
    if (existing.state === 'provisioning' && op) {
      if (meta.acceptsIncomplete) return {status: 202, body: {operation: op.id}}
      return this.outcome(op.id, () => ({status: 200, body: {}}))
    }
    throw concurrencyError(`instance ${existing.id} is being ${existing.state === 'deprovisioning' ? 'deprovisioned' : 'changed'}`)
  }

  private async createInstance(
    instanceId: string,
    service: ServiceDef,
    plan: PlanDef,
    body: ProvisionBody,
    parameters: Record<string, unknown>,
    requestKey: string,
    meta: RequestMeta,
  ): Promise<Reply> {
    const op = this.newOperation('provision', instanceId, null, requestKey, meta)
    const {instance, host} = await this.store.transaction(async (tx) => {
      await tx.lockPlacement()
      const host = placeInstance(await tx.listHosts(), await tx.countInstancesByHost(), await tx.usedPortsByHost(), plan, {
        strategy: this.options.strategy ?? 'spread',
        keepaliveMs: this.options.keepaliveMs,
        memory: await tx.memoryByHost(),
      })
      let ports
      try {
        ports = await tx.allocatePorts(host, instanceId, plan.container.ports)
      } catch (error) {
        if (error instanceof PortRangeFullError) throw new OsbError(503, error.message)
        throw error
      }
      const credentials = instanceCredentials(plan)
      const now = Date.now()
      const requestedName = typeof body.context?.instance_name === 'string' ? body.context.instance_name : null
      const name = requestedName && !(await tx.getInstanceByName(requestedName)) ? requestedName : null
      const instance: ServiceInstance = {
        id: instanceId,
        serviceId: service.id,
        planId: plan.id,
        hostId: host.id,
        state: 'provisioning',
        organizationGuid: body.organization_guid,
        spaceGuid: body.space_guid,
        parameters,
        context: body.context ?? {},
        maintenanceInfo: plan.maintenance_info ? {version: plan.maintenance_info.version} : null,
        credentials,
        spec: buildSpec({instanceId, service, plan, host, ports, credentials, parameters}),
        dashboardUrl: null,
        name,
        createdAt: now,
        updatedAt: now,
      }
      await tx.insertInstance(instance, requestKey)
      await tx.insertOperation(op, this.options.brokerId)
      return {instance, host}
    })
    this.options.events.emitChange({kind: 'instance', id: instanceId, action: 'provision', state: 'provisioning'})
    this.options.log.info(`provisioning ${service.name}/${plan.name} instance ${instanceId} on host ${host.id} port ${instance.spec.ports.map((p) => p.host).join(',')}`)
    this.start(`i:${instanceId}`, op, (signal) => this.runProvision(instance, host, signal))
    return this.reply(op, meta, () => ({status: 201, body: {}}))
  }

  private async runProvision(instance: ServiceInstance, host: Host, signal: AbortSignal): Promise<string> {
    const agent = this.options.agentFor(host)
    const busy = new Set<number>()
    try {
      for (;;) {
        try {
          await agent.apply(instance.spec, {signal})
          break
        } catch (error) {
          // Something outside dbroker holds the port (often an ephemeral client port): take the next free one.
          const port = busyPort(errorMessage(error))
          if (port === undefined || busy.size >= 10 || signal.aborted) throw error
          busy.add(port)
          instance = await this.movePort(instance, host, port, busy)
          this.options.log.info(`port ${port} on host ${host.id} is in use outside dbroker; instance ${instance.id} moves to ${instance.spec.ports.map((p) => p.host).join(',')}`)
        }
      }
      signal.throwIfAborted()
    } catch (error) {
      if (leaseLost(signal)) throw error
      // Leave nothing half-made: no container, volume, port or row. If the agent can't clean up now, the row and its
      // ports stay as 'failed' so the platform's orphan-mitigation DELETE retries the removal instead of getting 410.
      try {
        await agent.remove(instance.id)
        await this.store.deleteInstance(instance.id)
      } catch (cleanup) {
        this.options.log.error(`cleanup of ${instance.id} failed, kept as failed until a DELETE removes it: ${errorMessage(cleanup)}`)
        await this.store.transitionInstance(instance.id, ['provisioning'], 'failed')
      }
      this.options.events.emitChange({kind: 'instance', id: instance.id, action: 'provision', state: 'failed'})
      throw error
    }
    await this.store.transitionInstance(instance.id, ['provisioning'], 'ready')
    void this.fillSpares(instance.id)
    this.options.events.emitChange({kind: 'instance', id: instance.id, action: 'provision', state: 'ready'})
    return 'the instance is ready'
  }

  private async movePort(instance: ServiceInstance, host: Host, port: number, busy: Set<number>): Promise<ServiceInstance> {
    return this.store.transaction(async (tx) => {
      const moving = instance.spec.ports.find((p) => p.host === port)
      if (!moving) throw new Error(`port ${port} is in use on host ${host.id}`)
      await tx.releasePorts(host.id, [port])
      const [replacement] = await tx.allocatePorts(host, instance.id, [moving.container], busy)
      const spec = {...instance.spec, ports: instance.spec.ports.map((p) => (p.host === port ? replacement : p))}
      await tx.updateInstance(instance.id, {spec})
      return {...instance, spec}
    })
  }

  // fetch

  async fetchInstance(instanceId: string): Promise<Reply> {
    const instance = await this.store.getInstance(instanceId)
    if (!instance || instance.state === 'provisioning' || instance.state === 'failed') throw notFound(`instance ${instanceId} does not exist`)
    if (instance.state === 'updating') throw concurrencyError(`instance ${instanceId} is being updated`)
    const {service} = this.planOf(instance)
    if (!service.instances_retrievable) throw badRequest(`instances of ${service.name} are not retrievable`)
    return {
      status: 200,
      body: {
        service_id: instance.serviceId,
        plan_id: instance.planId,
        ...(instance.dashboardUrl ? {dashboard_url: instance.dashboardUrl} : {}),
        parameters: instance.parameters,
        ...(instance.maintenanceInfo ? {maintenance_info: instance.maintenanceInfo} : {}),
        metadata: {labels: {host: instance.hostId}, attributes: {}},
      },
    }
  }

  // update

  async update(instanceId: string, body: UpdateBody, meta: RequestMeta): Promise<Reply> {
    const instance = await this.store.getInstance(instanceId)
    if (!instance || instance.state === 'provisioning') throw notFound(`instance ${instanceId} does not exist`)
    if (body.service_id !== instance.serviceId) throw badRequest(`service_id ${body.service_id} is not the service of instance ${instanceId}`)
    const current = this.planOf(instance)
    const target = body.plan_id ? this.resolvePlan(body.service_id, body.plan_id) : current
    const planChanged = target.plan.id !== instance.planId
    if (planChanged && !this.catalog.planUpdateable(current.service, current.plan)) {
      throw new OsbError(422, `plan ${current.plan.name} of ${current.service.name} cannot be changed`)
    }
    const maintenance = isEmpty(body.maintenance_info) ? undefined : body.maintenance_info
    this.checkMaintenance(target.plan, maintenance)
    const newParameters = isEmpty(body.parameters) ? undefined : body.parameters
    if (newParameters) validateParameters(target.plan.schemas?.service_instance?.update?.parameters, newParameters)
    if (instance.state !== 'ready') throw concurrencyError(`instance ${instanceId} is being ${instance.state === 'updating' ? 'updated' : 'deprovisioned'}`)
    if (newParameters && !this.catalog.planUpdateable(current.service, current.plan) && !planChanged) {
      throw new OsbError(422, `parameters of plan ${current.plan.name} of ${current.service.name} cannot be changed`)
    }
    const parameters = {...instance.parameters, ...newParameters}
    const maintenanceInfo = target.plan.maintenance_info ? {version: target.plan.maintenance_info.version} : null
    const host = await this.hostOf(instance, meta)
    const ports = target.plan.container.ports.map((containerPort) => instance.spec.ports.find((p) => p.container === containerPort))
    if (ports.some((p) => p === undefined)) throw new OsbError(422, `plan ${target.plan.name} exposes other ports than plan ${current.plan.name}; provision a new instance instead`)
    const spec = buildSpec({
      instanceId,
      service: target.service,
      plan: target.plan,
      host,
      ports: ports as NonNullable<(typeof ports)[number]>[],
      credentials: instance.credentials,
      parameters,
    })
    const requestKey = canonical({
      service_id: instance.serviceId,
      plan_id: target.plan.id,
      organization_guid: instance.organizationGuid,
      space_guid: instance.spaceGuid,
      parameters,
    })
    const contextChanged = !isEmpty(body.context) && canonical(body.context) !== canonical(instance.context)
    if (canonical(spec) === canonical(instance.spec) && canonical(maintenanceInfo) === canonical(instance.maintenanceInfo)) {
      if (contextChanged) await this.store.updateInstance(instanceId, {context: body.context})
      return {status: 200, body: {}}
    }
    if (target.plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    const op = this.waitingFor(this.newOperation('update', instanceId, null, requestKey, meta), host)
    const moved = await this.store.transaction(async (tx) => {
      if (!(await tx.transitionInstance(instanceId, ['ready'], 'updating'))) return false
      await tx.insertOperation(op, this.options.brokerId)
      return true
    })
    if (!moved) throw concurrencyError(`instance ${instanceId} is being changed by another request`)
    this.options.events.emitChange({kind: 'instance', id: instanceId, action: 'update', state: 'updating'})
    const patch = {planId: target.plan.id, parameters, spec, maintenanceInfo, requestKey, ...(contextChanged ? {context: body.context} : {})}
    this.start(`i:${instanceId}`, op, (signal) => this.runUpdate(instance, host, patch, op.createdAt, signal))
    return this.reply(op, meta, () => ({status: 200, body: {}}))
  }

  private async runUpdate(
    instance: ServiceInstance,
    host: Host,
    patch: {planId: string; parameters: Record<string, unknown>; spec: ContainerSpec; maintenanceInfo: {version: string} | null; requestKey: string},
    since: number,
    signal: AbortSignal,
  ): Promise<string> {
    let agent: AgentClient | undefined
    // A host that was dead may come back wiped: the container this makes then has a new volume, without the binding users.
    let waited = false
    try {
      const live = await this.hostBack(instance, host, since, signal)
      waited = live !== host
      agent = this.options.agentFor(live)
      await agent.apply(patch.spec, {signal})
    } catch (error) {
      if (leaseLost(signal)) throw error
      // A failed update changes nothing: bring the old container back (a host that never came back still runs it).
      await agent?.apply(instance.spec).catch((e) => this.options.log.error(`rollback of ${instance.id} failed: ${errorMessage(e)}`))
      await this.store.transitionInstance(instance.id, ['updating'], 'ready')
      if (agent && waited) await this.replayBindings(instance.id)
      this.options.events.emitChange({kind: 'instance', id: instance.id, action: 'update', state: 'ready'})
      throw new Error(`${errorMessage(error)}; the instance runs as before`)
    }
    await this.store.updateInstance(instance.id, {...patch, state: 'ready'})
    if (waited) await this.replayBindings(instance.id)
    this.options.events.emitChange({kind: 'instance', id: instance.id, action: 'update', state: 'ready'})
    return 'the instance was updated'
  }

  // deprovision

  async deprovision(instanceId: string, query: {service_id?: string; plan_id?: string}, meta: RequestMeta): Promise<Reply> {
    if (!query.service_id || !query.plan_id) throw badRequest('service_id and plan_id are required query parameters')
    let instance = await this.store.getInstance(instanceId)
    if (!instance) throw gone()
    if (query.service_id !== instance.serviceId) throw badRequest(`service_id ${query.service_id} is not the service of instance ${instanceId}`)
    if (instance.state === 'provisioning') {
      // Stop the provision where it stands; its own cleanup removes what it made.
      const task = this.tasks.get(`i:${instanceId}`)
      if (!task) throw concurrencyError(`instance ${instanceId} is being provisioned by another broker`)
      task.abort.abort(new Error('a deprovision request arrived'))
      await task.done
      instance = await this.store.getInstance(instanceId)
      if (!instance) return {status: 200, body: {}}
    }
    if (instance.state === 'deprovisioning') {
      const op = await this.store.latestOperation(instanceId)
      if (op && op.kind === 'deprovision' && op.state === 'in progress') return this.reply(op, meta, () => ({status: 200, body: {}}))
    }
    if (instance.state === 'updating') throw concurrencyError(`instance ${instanceId} is being updated`)
    const {plan} = this.planOf(instance)
    if (plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    const host = await this.hostOf(instance, meta)
    const op = this.waitingFor(this.newOperation('deprovision', instanceId, null, canonical(query), meta), host)
    const previous = instance.state
    const moved = await this.store.transaction(async (tx) => {
      if (!(await tx.transitionInstance(instanceId, ['ready', 'failed', 'deprovisioning'], 'deprovisioning'))) return false
      await tx.insertOperation(op, this.options.brokerId)
      return true
    })
    if (!moved) throw concurrencyError(`instance ${instanceId} is being changed by another request`)
    this.options.events.emitChange({kind: 'instance', id: instanceId, action: 'deprovision', state: 'deprovisioning'})
    const current = instance
    this.start(`i:${instanceId}`, op, (signal) => this.runDeprovision(current, host, previous === 'deprovisioning' ? 'ready' : previous, op.createdAt, signal))
    return this.reply(op, meta, () => ({status: 200, body: {}}))
  }

  private async runDeprovision(instance: ServiceInstance, host: Host, previous: ServiceInstance['state'], since: number, signal?: AbortSignal): Promise<string> {
    const instanceId = instance.id
    try {
      await this.options.agentFor(await this.hostBack(instance, host, since, signal)).remove(instanceId)
    } catch (error) {
      await this.store.transitionInstance(instanceId, ['deprovisioning'], previous)
      throw error
    }
    await this.store.deleteInstance(instanceId)
    this.options.events.emitChange({kind: 'instance', id: instanceId, action: 'deprovision', state: 'gone'})
    this.options.log.info(`deprovisioned instance ${instanceId}`)
    return 'the instance and its data are gone'
  }

  // bindings

  async bind(instanceId: string, bindingId: string, body: BindBody, meta: RequestMeta): Promise<Reply> {
    const {service} = this.resolvePlan(body.service_id, body.plan_id)
    const instance = await this.store.getInstance(instanceId)
    if (!instance || instance.state === 'provisioning') throw notFound(`instance ${instanceId} does not exist`)
    if (instance.serviceId !== service.id) throw badRequest(`instance ${instanceId} is not an instance of ${service.name}`)
    // The rules (bindable, requires_app, schema, credentials) are the instance's plan's, whatever plan_id the request names.
    const {plan} = this.planOf(instance)
    if (!(plan.bindable ?? service.bindable)) throw badRequest(`plan ${plan.name} of ${service.name} is not bindable`)
    const bindResource = isEmpty(body.bind_resource) ? undefined : body.bind_resource
    const appGuid = (typeof bindResource?.app_guid === 'string' ? bindResource.app_guid : undefined) ?? body.app_guid
    if (plan.requires_app && !appGuid) throw new OsbError(422, `plan ${plan.name} needs an application: send bind_resource.app_guid`, 'RequiresApp')
    const parameters = body.parameters ?? {}
    validateParameters(plan.schemas?.service_binding?.create?.parameters, parameters)
    const requestKey = canonical({instance_id: instanceId, service_id: body.service_id, plan_id: body.plan_id, app_guid: appGuid, bind_resource: bindResource, parameters})

    for (let attempt = 0; ; attempt++) {
      const existing = await this.store.getBinding(bindingId)
      if (existing) {
        if (existing.requestKey !== requestKey) throw conflict(`binding ${bindingId} already exists with different attributes`)
        const ok = async () => ({status: 200, body: await this.bindingBody(bindingId)})
        if (existing.state === 'bound') return ok()
        const op = await this.store.latestOperation(instanceId, bindingId)
        if (existing.state === 'binding' && op) return meta.acceptsIncomplete ? {status: 202, body: {operation: op.id}} : this.outcome(op.id, ok)
        throw concurrencyError(`binding ${bindingId} is being removed`)
      }
      if (instance.state !== 'ready') throw concurrencyError(`instance ${instanceId} is being ${instance.state === 'updating' ? 'updated' : 'deprovisioned'}`)
      const host = await this.hostOf(instance, meta)
      // A user made ahead of time answers the bind without waiting for an exec in the container.
      const spare = this.perBinding(instance) ? await this.store.claimSpareUser(instanceId) : undefined
      const user = spare ?? bindingUser(instance, plan)
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
        credentials: bindingCredentials(instance, this.planOf(instance).plan, host, user),
        createdAt: Date.now(),
      }
      const op = this.waitingFor(this.newOperation('bind', instanceId, bindingId, requestKey, meta), host)
      try {
        await this.store.transaction(async (tx) => {
          await tx.insertBinding(binding, requestKey)
          await tx.insertOperation(op, this.options.brokerId)
        })
      } catch (error) {
        if (spare) await this.store.addSpareUser(instanceId, spare)
        if (isUniqueViolation(error) && attempt < 5) continue
        throw error
      }
      this.options.events.emitChange({kind: 'binding', id: bindingId, instanceId, action: 'bind', state: 'binding'})
      this.start(`b:${bindingId}`, op, (signal) => this.runBind(instance, binding, host, op.createdAt, signal, spare !== undefined))
      if (spare) void this.fillSpares(instanceId)
      return this.reply(op, meta, async () => ({status: 201, body: await this.bindingBody(bindingId)}))
    }
  }

  private async runBind(instance: ServiceInstance, binding: Binding, host: Host, since: number, signal?: AbortSignal, userExists = false): Promise<string> {
    let reached: Host | undefined
    try {
      const back = await this.containerBack(instance, host, since, signal)
      reached = back.host
      // A spare user made before the host died may have gone with a wiped volume: make it again.
      if (!userExists || back.waited) await this.bindUser(back.host, instance, binding)
    } catch (error) {
      await this.store.deleteBinding(binding.id)
      // Leave no user nobody tracks: drop what the hook may have made, or hand an unused spare back.
      if (reached) await this.forgetUser(reached, instance, binding)
      else if (userExists) await this.store.addSpareUser(instance.id, {username: binding.credentials.username, password: binding.credentials.password}).catch(() => undefined)
      this.options.events.emitChange({kind: 'binding', id: binding.id, instanceId: instance.id, action: 'bind', state: 'failed'})
      throw error
    }
    await this.store.transitionBinding(binding.id, ['binding'], 'bound')
    this.options.events.emitChange({kind: 'binding', id: binding.id, instanceId: instance.id, action: 'bind', state: 'bound'})
    return 'the binding is ready'
  }

  /** A failed bind leaves no live user that nobody tracks: the service drops it (best effort, the hook is idempotent). */
  private async forgetUser(host: Host, instance: ServiceInstance, binding: Binding): Promise<void> {
    const hook = instance.spec.hooks.unbind
    if (!hook || !this.perBinding(instance)) return
    await this.runHook(host, instance, hook, {BIND_USERNAME: binding.credentials.username}).catch((error) =>
      this.options.log.warn(`user of failed binding ${binding.id} may remain in instance ${instance.id}: ${errorMessage(error)}`),
    )
  }

  private perBinding(instance: ServiceInstance): boolean {
    return Boolean(instance.spec.hooks.bind) && this.catalog.plan(instance.planId)?.plan.container.binding_credentials === 'per-binding'
  }

  /**
   * Keeps SPARE_USERS users made ahead in a per-binding instance's service, so
   * a bind hands one out at store speed instead of waiting ~100 ms for an exec.
   * One fill per instance at a time; failures only delay binds, never fail them.
   */
  private fillSpares(instanceId: string): Promise<void> {
    const running = this.filling.get(instanceId)
    if (running) return running
    const work = (async () => {
      for (;;) {
        const instance = await this.store.getInstance(instanceId)
        if (!instance || instance.state !== 'ready' || !this.perBinding(instance)) return
        if ((await this.store.spareUsers(instanceId)).length >= SPARE_USERS) return
        const host = await this.store.getHost(instance.hostId)
        if (!host || !isLive(host, this.options.keepaliveMs)) return
        const user = bindingUser(instance, this.planOf(instance).plan)
        await this.runHook(host, instance, instance.spec.hooks.bind!, {BIND_USERNAME: user.username, BIND_PASSWORD: user.password})
        await this.store.addSpareUser(instanceId, user)
        // A deprovision that finished meanwhile took the instance's spares; take this one too.
        if (!(await this.store.getInstance(instanceId))) await this.store.deleteInstance(instanceId)
      }
    })()
      .catch((error) => this.options.log.debug(`spare users of instance ${instanceId} not made: ${errorMessage(error)}`))
      .finally(() => this.filling.delete(instanceId))
    this.filling.set(instanceId, work)
    return work
  }

  /** Creates (or updates) the binding's own user in the service, when its plan gives each binding one. */
  private async bindUser(host: Host, instance: ServiceInstance, binding: Binding): Promise<boolean> {
    const hook = instance.spec.hooks.bind
    if (!hook || this.planOf(instance).plan.container.binding_credentials !== 'per-binding') return false
    await this.runHook(host, instance, hook, {BIND_USERNAME: binding.credentials.username, BIND_PASSWORD: binding.credentials.password})
    return true
  }

  private async runHook(host: Host, instance: ServiceInstance, command: string[], env: Record<string, string>): Promise<void> {
    const result = await this.options.agentFor(host).exec(instance.id, command, env)
    if (result.exitCode !== 0) {
      let output = result.output.trim().split('\n').slice(-3).join(' ')
      for (const secret of Object.values(env)) if (secret.length >= 8) output = output.split(secret).join('********')
      throw new Error(`${command.join(' ')} exited with ${result.exitCode}${output ? `: ${output}` : ''}`)
    }
  }

  private async bindingBody(bindingId: string): Promise<Record<string, unknown>> {
    const binding = await this.store.getBinding(bindingId)
    if (!binding) throw notFound(`binding ${bindingId} does not exist`)
    const {service} = this.resolvePlan(binding.serviceId, binding.planId)
    return {
      credentials: binding.credentials,
      endpoints: [{host: binding.credentials.host, ports: [String(binding.credentials.port)], protocol: 'tcp'}],
      ...(service.requires?.includes('syslog_drain') ? {syslog_drain_url: ''} : {}),
      parameters: binding.parameters,
      metadata: {},
    }
  }

  async fetchBinding(instanceId: string, bindingId: string): Promise<Reply> {
    const binding = await this.store.getBinding(bindingId)
    if (!binding || binding.instanceId !== instanceId || binding.state === 'binding') throw notFound(`binding ${bindingId} does not exist`)
    const {service} = this.resolvePlan(binding.serviceId, binding.planId)
    if (!service.bindings_retrievable) throw badRequest(`bindings of ${service.name} are not retrievable`)
    if (binding.state === 'unbinding') throw concurrencyError(`binding ${bindingId} is being removed`)
    return {status: 200, body: await this.bindingBody(bindingId)}
  }

  async unbind(instanceId: string, bindingId: string, query: {service_id?: string; plan_id?: string}, meta: RequestMeta): Promise<Reply> {
    if (!query.service_id || !query.plan_id) throw badRequest('service_id and plan_id are required query parameters')
    const binding = await this.store.getBinding(bindingId)
    if (!binding || binding.instanceId !== instanceId) throw gone()
    const instance = await this.store.getInstance(instanceId)
    if (!instance) throw gone()
    if (binding.state === 'unbinding') {
      const op = await this.store.latestOperation(instanceId, bindingId)
      if (op && op.kind === 'unbind' && op.state === 'in progress') return this.reply(op, meta, () => ({status: 200, body: {}}))
    }
    if (binding.state === 'binding') throw concurrencyError(`binding ${bindingId} is still being created`)
    const host = await this.hostOf(instance, meta)
    const op = this.waitingFor(this.newOperation('unbind', instanceId, bindingId, canonical(query), meta), host)
    const moved = await this.store.transaction(async (tx) => {
      if (!(await tx.transitionBinding(bindingId, ['bound', 'failed', 'unbinding'], 'unbinding'))) return false
      await tx.insertOperation(op, this.options.brokerId)
      return true
    })
    if (!moved) throw concurrencyError(`binding ${bindingId} is being changed by another request`)
    this.start(`b:${bindingId}`, op, (signal) => this.runUnbind(instance, binding, host, op.createdAt, signal))
    return this.reply(op, meta, () => ({status: 200, body: {}}))
  }

  private async runUnbind(instance: ServiceInstance, binding: Binding, host: Host, since: number, signal?: AbortSignal): Promise<string> {
    try {
      const live = (await this.containerBack(instance, host, since, signal)).host
      const hook = instance.spec.hooks.unbind
      if (hook && this.planOf(instance).plan.container.binding_credentials === 'per-binding') await this.runHook(live, instance, hook, {BIND_USERNAME: binding.credentials.username})
    } catch (error) {
      await this.store.transitionBinding(binding.id, ['unbinding'], 'bound')
      throw error
    }
    await this.store.deleteBinding(binding.id)
    this.options.events.emitChange({kind: 'binding', id: binding.id, instanceId: instance.id, action: 'unbind', state: 'gone'})
    return 'the binding is gone and its credentials revoked'
  }

  // last_operation

  async lastOperation(instanceId: string, bindingId: string | undefined, operationId: string | undefined): Promise<Reply> {
    let op = operationId ? await this.store.getOperation(operationId) : undefined
    if (op && (op.instanceId !== instanceId || (op.bindingId ?? undefined) !== bindingId)) op = undefined
    op ??= await this.store.latestOperation(instanceId, bindingId)
    if (!op) {
      if (bindingId ? await this.store.getBinding(bindingId) : await this.store.getInstance(instanceId)) {
        return {status: 200, body: {state: 'succeeded', description: 'no operation is recorded'}}
      }
      throw notFound(`${bindingId ? `binding ${bindingId}` : `instance ${instanceId}`} is unknown`)
    }
    const failedChange = op.state === 'failed' && (op.kind === 'update' || op.kind === 'deprovision')
    // A wait's age is told as of now, not as of when the operation began.
    const host = op.state === 'in progress' ? await this.hostWaitedFor(op.instanceId) : undefined
    return {
      status: 200,
      body: {
        state: op.state,
        description: host ? `${op.kind} ${describeWait(host)}` : op.description,
        ...(failedChange ? {instance_usable: true, update_repeatable: true} : {}),
      },
    }
  }

  private async hostWaitedFor(instanceId: string): Promise<Host | undefined> {
    const instance = await this.store.getInstance(instanceId)
    const host = instance && (await this.store.getHost(instance.hostId))
    return host && !isLive(host, this.options.keepaliveMs) ? host : undefined
  }

  // recovery

  /**
   * Takes over operations this broker left in progress (it was killed or
   * restarted): each one finishes or fails cleanly; none stays in progress.
   */
  async resume(owners: string[] = [this.options.brokerId]): Promise<number> {
    const pending = (await this.store.operationsInProgress()).filter((op) => op.owner !== null && owners.includes(op.owner) && !this.tasksHave(op.id))
    let resumed = 0
    for (const op of pending) {
      // Another broker's operation becomes ours only if no third broker claimed it first.
      if (op.owner !== this.options.brokerId && !(await this.store.claimOperation(op.id, op.owner, this.options.brokerId))) continue
      resumed++
      const instance = await this.store.getInstance(op.instanceId)
      const host = instance && (await this.store.getHost(instance.hostId))
      const interrupted = async () => 'interrupted by a broker restart; nothing was changed'
      this.options.log.info(`resuming ${op.kind} of ${op.bindingId ? `binding ${op.bindingId}` : `instance ${op.instanceId}`}`)
      if (!instance || !host) {
        this.start(`i:${op.instanceId}`, op, async () => {
          throw new Error('interrupted by a broker restart; the instance is gone')
        })
        continue
      }
      const binding = op.bindingId ? await this.store.getBinding(op.bindingId) : undefined
      switch (op.kind) {
        case 'provision':
          this.start(`i:${op.instanceId}`, op, (signal) => this.runProvision(instance, host, signal))
          break
        case 'update':
          this.start(`i:${op.instanceId}`, op, async (signal) => {
            try {
              await this.options.agentFor(await this.hostBack(instance, host, op.createdAt, signal)).apply(instance.spec)
            } finally {
              await this.store.transitionInstance(instance.id, ['updating'], 'ready')
            }
            throw new Error(await interrupted())
          })
          break
        case 'deprovision':
          this.start(`i:${op.instanceId}`, op, (signal) => this.runDeprovision(instance, host, 'ready', op.createdAt, signal))
          break
        case 'bind':
          this.start(`b:${op.bindingId}`, op, async (signal) => {
            if (!binding) throw new Error('interrupted by a broker restart; the binding is gone')
            return this.runBind(instance, binding, host, op.createdAt, signal)
          })
          break
        case 'unbind':
          this.start(`b:${op.bindingId}`, op, async (signal) => {
            if (!binding) return 'the binding is gone'
            return this.runUnbind(instance, binding, host, op.createdAt, signal)
          })
          break
      }
    }
    return resumed
  }

  /**
   * Recreates the per-binding users of an instance whose container
   * convergence (re)made: they live in its volume, which may be new (a wiped
   * host, a lost volume). Bind hooks are idempotent, so a user that survived
   * is left as it was. Never throws; returns how many bindings were restored.
   */
  async replayBindings(instanceId: string, hostId?: string): Promise<number> {
    try {
      const instance = await this.store.getInstance(instanceId)
      if (!instance || (hostId && instance.hostId !== hostId) || !['ready', 'updating'].includes(instance.state)) return 0
      const bindings = (await this.store.listBindings(instanceId)).filter((b) => b.state === 'bound')
      const host = await this.store.getHost(instance.hostId)
      if (!host) return 0
      // Spare users lived in the old volume too: make them again, or a bind would hand out a user that no longer exists.
      if (this.perBinding(instance)) {
        for (const spare of await this.store.spareUsers(instanceId)) {
          await this.runHook(host, instance, instance.spec.hooks.bind!, {BIND_USERNAME: spare.username, BIND_PASSWORD: spare.password}).catch(() => undefined)
        }
      }
      if (bindings.length === 0) return 0
      let restored = 0
      for (const binding of bindings) {
        try {
          if (!(await this.bindUser(host, instance, binding))) continue
          // An unbind that began meanwhile may have revoked the user before this re-made it: revoke it again.
          if ((await this.store.getBinding(binding.id))?.state !== 'bound') {
            const unbind = instance.spec.hooks.unbind
            if (unbind) await this.runHook(host, instance, unbind, {BIND_USERNAME: binding.credentials.username})
            continue
          }
          restored++
        } catch (error) {
          this.options.log.warn(`the user of binding ${binding.id} of instance ${instanceId} could not be restored: ${errorMessage(error)}`)
        }
      }
      if (restored > 0) this.options.log.info(`restored the users of ${restored} of ${bindings.length} binding(s) of instance ${instanceId} in its new container`)
      return restored
    } catch (error) {
      this.options.log.warn(`the bindings of instance ${instanceId} could not be restored: ${errorMessage(error)}`)
      return 0
    }
  }

  private tasksHave(operationId: string): boolean {
    return [...this.tasks.values()].some((t) => t.operationId === operationId)
  }

  /**
   * Stops every operation running here, without cleanup and without recording
   * how it ended: this broker's lease ran out, so another broker may own them
   * now. Resolves when they have all stopped, with how many there were.
   */
  async abandon(reason: string): Promise<number> {
    const tasks = [...this.tasks.values()]
    for (const task of tasks) task.abort.abort(new LeaseLostError(reason))
    await Promise.allSettled(tasks.map((t) => t.done))
    return tasks.length
  }

  /** Resolves when every running operation has ended; for a graceful stop. */
  async drain(timeoutMs: number): Promise<void> {
    const all = Promise.allSettled([...this.tasks.values()].map((t) => t.done).concat([...this.filling.values()]))
    await Promise.race([all, sleep(timeoutMs)])
  }

  /** Whether convergence may (re)make an instance's container now: it exists, is ready, and no operation of this broker runs on it. */
  async wantsContainer(instanceId: string): Promise<boolean> {
    if (this.tasks.has(`i:${instanceId}`)) return false
    return (await this.store.getInstance(instanceId))?.state === 'ready'
  }

  /** The containers a host should run: every instance there that is not mid-change. */
  async desiredSpecs(hostId: string): Promise<ContainerSpec[]> {
    const instances = await this.store.listInstances({hostId})
    return instances.filter((i) => i.state === 'ready' && !this.tasks.has(`i:${i.id}`)).map((i) => i.spec)
  }
}
