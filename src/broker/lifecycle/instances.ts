import {type PlanDef, planContainer, type ServiceDef} from '../../catalog/index.js'
import {asyncRequired, badRequest, concurrencyError, conflict, errorMessage, notFound} from '../../core/errors.js'
import type {Host, ServiceInstance} from '../../core/types.js'
import {isUniqueViolation, type StoredInstance} from '../../store/index.js'
import {instanceCredentials} from '../credentials.js'
import {leaseLost} from '../lease-fence.js'
import type {FetchInstanceResponse, ProvisionBody, ProvisionResponse, Reply, RequestMeta} from '../osb-schema.js'
import {validateParameters} from '../parameters.js'
import {placeInstance} from '../placement.js'
import {unreachableHost} from '../reachability.js'
import {buildSpec} from '../spec.js'
import type {BindingUsers} from './binding-users.js'
import {
  bookPorts,
  canonical,
  checkMaintenance,
  isEmpty,
  type LifecycleContext,
  planOf,
  resolvePlan,
  type ServicePlan,
} from './context.js'
import type {HostWait} from './host-wait.js'
import type {KindLifecycle} from './kind-lifecycle.js'
import {kindOf} from './plan-kinds.js'
import {newInstance} from './new-instance.js'
import {SharedContainerBusy} from './shared-containers.js'
import {placeAgain} from './placing-again.js'
import {type OperationRunner, type Outcome, Undone} from './operations.js'
import {operationProgress} from './progress.js'
import {beginOperation, changes} from './transition.js'

/** The host port in Docker's "address already in use" / "port is already allocated" errors. */
export function busyPort(message: string): number | undefined {
  if (!/address already in use|port is already allocated/.test(message)) return undefined
  const match = /:(\d+)(?::\s*bind| failed)/.exec(message)
  return match ? Number(match[1]) : undefined
}

/** How often a provision looks again for a shared container its last instance's deprovision is removing (250 ms apart). */
const SHARED_BUSY_TRIES = 120

/** A maintenance_info that names a version; `{}` names none. */
export const requestedMaintenance = (info: {version?: string} | undefined) =>
  info && !isEmpty(info) && info.version ? {version: info.version} : undefined

/** Creating instances (provision, with port moves when something outside dbroker holds a port) and fetching them. */
export class Instances {
  constructor(
    private readonly ctx: LifecycleContext,
    private readonly runner: OperationRunner,
    private readonly hosts: HostWait,
    private readonly users: BindingUsers,
    private readonly kinds: KindLifecycle,
  ) {}

  async provision(instanceId: string, body: ProvisionBody, meta: RequestMeta): Promise<Reply> {
    const {service, plan} = resolvePlan(this.ctx.catalog, body.service_id, body.plan_id)
    if (plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    checkMaintenance(plan, requestedMaintenance(body.maintenance_info))
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
      const existing = await this.ctx.store.getInstance(instanceId)
      if (existing) return this.provisionAgain(existing, requestKey, meta)
      try {
        return await this.create(instanceId, service, plan, body, parameters, requestKey, meta)
      } catch (error) {
        // A concurrent request inserted the same instance or took the same port: look again.
        if (isUniqueViolation(error) && attempt < 5) continue
        // The shared container is going with its last instance: once it is gone, this one makes a new one.
        if (error instanceof SharedContainerBusy && attempt < SHARED_BUSY_TRIES) {
          await this.ctx.clock.sleep(250)
          continue
        }
        throw error
      }
    }
  }

  private async provisionAgain(
    existing: StoredInstance,
    requestKey: string,
    meta: RequestMeta,
  ): Promise<Reply<ProvisionResponse>> {
    if (existing.requestKey !== requestKey)
      throw conflict(`instance ${existing.id} already exists with different attributes`)
    const ok = () => ({status: 200, body: existing.dashboardUrl ? {dashboard_url: existing.dashboardUrl} : {}})
    if (existing.state === 'ready' || existing.state === 'updating') return ok()
    const op = await this.ctx.store.latestOperation(existing.id)
    if (existing.state === 'provisioning' && op) {
      if (meta.acceptsIncomplete) return {status: 202, body: {operation: op.id}}
      return this.runner.outcome(op, () => ({status: 200, body: {}}))
    }
    throw concurrencyError(
      `instance ${existing.id} is being ${existing.state === 'deprovisioning' ? 'deprovisioned' : 'changed'}`,
    )
  }

  private async create(
    instanceId: string,
    service: ServiceDef,
    plan: PlanDef,
    body: ProvisionBody,
    parameters: Record<string, unknown>,
    requestKey: string,
    meta: RequestMeta,
  ): Promise<Reply> {
    const {ctx} = this
    const op = this.runner.newOperation('provision', instanceId, null, requestKey, meta)
    let placed: {instance: ServiceInstance; host: Host} | undefined
    const request = {id: instanceId, service, plan, body, parameters, now: ctx.clock.now()}
    const created = changes.instanceCreated(instanceId, async (tx) => {
      if (plan.kind.type !== 'dedicated') {
        const {host, spec, credentials} = await this.kinds.place(tx, service, plan, instanceId)
        const instance = await newInstance(tx, request, {host, spec, credentials})
        await tx.insertInstance(instance, requestKey)
        placed = {instance, host}
        return
      }
      await tx.lockPlacement()
      // A catalog change takes this lock too and swaps the catalog before it commits: a plan removed meanwhile is seen here.
      if (!ctx.catalog.plan(plan.id)) throw badRequest(`plan ${plan.id} was removed from the catalog meanwhile`)
      const host = placeInstance(
        await tx.listHosts(),
        await tx.countInstancesByHost(),
        await tx.usedPortsByHost(),
        plan,
        {
          strategy: ctx.strategy,
          keepaliveMs: ctx.keepaliveMs,
          memory: await tx.memoryByHost(),
        },
      )
      const ports = await bookPorts(tx, host, instanceId, planContainer(plan).ports)
      const credentials = instanceCredentials(plan)
      const spec = buildSpec({
        instanceId,
        installationId: await tx.installationId(),
        service,
        plan,
        host,
        ports,
        credentials,
        parameters,
      })
      const instance = await newInstance(tx, request, {host, spec, credentials})
      await tx.insertInstance(instance, requestKey)
      placed = {instance, host}
    })
    await beginOperation(ctx, created, op)
    const {instance, host} = placed!
    ctx.log.info(
      `provisioning ${service.name}/${plan.name} instance ${instanceId} on host ${host.id} port ${instance.spec.ports.map((p) => p.host).join(',')}`,
    )
    const progress = operationProgress(ctx, op)
    this.runner.start(`i:${instanceId}`, op, (signal) =>
      this.runProvision(instance, host, signal, meta.acceptsIncomplete, {service, plan}, progress),
    )
    return this.runner.reply(op, meta, () => ({status: 201, body: {}}))
  }

  /**
   * Makes the container; on failure leaves nothing half-made: no container,
   * volume, port or row. A host that can't be reached gives the instance to
   * another one; with none, an async provision (`wait`) waits for one.
   */
  async runProvision(
    instance: ServiceInstance,
    host: Host,
    signal: AbortSignal,
    wait = true,
    started?: ServicePlan,
    /** What the agent says while it gets the image, for the operation's description. */
    onProgress?: (line: string) => void,
  ): Promise<Outcome> {
    if (kindOf(this.ctx.catalog, instance).type !== 'dedicated') {
      const outcome = await this.kinds.runProvision(instance, host, signal, onProgress)
      return {...outcome, afterwards: () => void this.users.fillSpares(instance.id)}
    }
    let agent = this.ctx.agentFor(host)
    const busy = new Set<number>()
    const tried = new Set<string>()
    try {
      for (;;) {
        try {
          await agent.apply(instance.spec, {signal, onProgress})
          break
        } catch (error) {
          if (signal.aborted) throw error
          if (unreachableHost(error) === host.id) {
            tried.add(host.id)
            ;({instance, host} = await placeAgain(this.ctx, this.hosts, {
              instance,
              from: host,
              failure: error,
              tried: wait ? undefined : tried,
              signal,
              plan: started,
            }))
            agent = this.ctx.agentFor(host)
            busy.clear()
            continue
          }
          // Something outside dbroker holds the port (often an ephemeral client port): take the next free one.
          const port = busyPort(errorMessage(error))
          if (port === undefined || busy.size >= 10) throw error
          busy.add(port)
          instance = await this.movePort(instance, host, port, busy)
          this.ctx.log.info(
            `port ${port} on host ${host.id} is in use outside dbroker; instance ${instance.id} moves to ${instance.spec.ports.map((p) => p.host).join(',')}`,
          )
        }
      }
      signal.throwIfAborted()
    } catch (error) {
      // A broker that lost its lease leaves the cleanup to the one that owns the operation now.
      if (leaseLost(signal)) throw error
      // A host out of reach can't remove what it may have made: that goes once it answers; the row and ports go now.
      const leftBehind = () => {
        this.hosts.removeLeftover(instance, host.id)
        return new Undone(error, changes.instanceRemoved(instance.id, 'provision', 'failed'))
      }
      if (unreachableHost(error) === host.id) throw leftBehind()
      try {
        await agent.remove(instance.id)
      } catch (cleanup) {
        if (unreachableHost(cleanup) === host.id) throw leftBehind()
        // Kept as failed so the platform's orphan-mitigation DELETE retries the removal instead of getting 410.
        this.ctx.log.error(
          `cleanup of ${instance.id} failed, kept as failed until a DELETE removes it: ${errorMessage(cleanup)}`,
        )
        throw new Undone(error, changes.instanceMoved(instance.id, 'provision', ['provisioning'], 'failed'))
      }
      throw new Undone(error, changes.instanceRemoved(instance.id, 'provision', 'failed'))
    }
    const id = instance.id
    return {
      description: 'the instance is ready',
      change: changes.instanceMoved(id, 'provision', ['provisioning'], 'ready'),
      afterwards: () => void this.users.fillSpares(id),
    }
  }

  private async movePort(
    instance: ServiceInstance,
    host: Host,
    port: number,
    busy: Set<number>,
  ): Promise<ServiceInstance> {
    return this.ctx.store.transaction(async (tx) => {
      const moving = instance.spec.ports.find((p) => p.host === port)
      if (!moving) throw new Error(`port ${port} is in use on host ${host.id}`)
      await tx.releasePorts(host.id, [port])
      const [replacement] = await tx.allocatePorts(host, instance.id, [moving.container], busy)
      const spec = {...instance.spec, ports: instance.spec.ports.map((p) => (p.host === port ? replacement : p))}
      await tx.updateInstance(instance.id, {spec})
      return {...instance, spec}
    })
  }

  async fetch(instanceId: string): Promise<Reply<FetchInstanceResponse>> {
    const instance = await this.ctx.store.getInstance(instanceId)
    if (!instance || instance.state === 'provisioning' || instance.state === 'failed')
      throw notFound(`instance ${instanceId} does not exist`)
    if (instance.state === 'updating') throw concurrencyError(`instance ${instanceId} is being updated`)
    const {service} = planOf(this.ctx.catalog, instance)
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
}
