import type {PlanDef, PlanKind} from '../../catalog/index.js'
import {asyncRequired, badRequest, concurrencyError, errorMessage, OsbError} from '../../core/errors.js'
import type {Host, ServiceInstance} from '../../core/types.js'
import {DISK_SIZE} from '../disk-parameters.js'
import {leaseLost} from '../lease-fence.js'
import type {Reply, RequestMeta, UpdateBody} from '../osb-schema.js'
import {validateParameters} from '../parameters.js'
import {canonical, type LifecycleContext, type ServicePlan, updatedRequestKey} from './context.js'
import type {HostWait} from './host-wait.js'
import {type OperationRunner, type Outcome, Undone} from './operations.js'
import {execTarget, lifecycleDocument, noContainerSpec, runExecutable, usesExecutables} from './plan-kinds.js'
import {sharedContainerName} from './shared-containers.js'
import {beginOperation, changes, type InstancePatch} from './transition.js'

const ok = (): Reply => ({status: 200, body: {}})

/** Where a kind's instances keep their data: a plan change may only stay there (nothing moves data between containers). */
function home(plan: ServicePlan): string | undefined {
  const {kind} = plan.plan
  if (kind.type === 'shared') return `shared container ${sharedContainerName(plan.service, plan.plan)}`
  if (kind.type === 'existing')
    return `container ${kind.container} on host ${kind.host}${kind.credentials ? ' (given credentials)' : ''}`
  return undefined
}

const describe = (p: PlanDef) => `${p.kind.type} plan ${p.name}`

/**
 * Why an instance of a static, shared or existing plan can't go to `target`, if it can't: another kind, or
 * another container than the one its data lives in, would need the data moved, which dbroker does not do.
 */
export function refusedPlanChange(current: ServicePlan, target: ServicePlan): string | undefined {
  if (current.plan.id === target.plan.id) return undefined
  const [from, to] = [current.plan, target.plan]
  if (from.kind.type !== to.kind.type)
    return `an instance of ${describe(from)} can't move to ${describe(to)}: its data would have to move to another kind of plan, which dbroker does not do; provision a new instance of ${to.name} and move the data yourself`
  const [here, there] = [home(current), home(target)]
  if (here !== there)
    return `an instance of ${describe(from)} lives in ${here}, and ${to.name} keeps its instances in ${there}: dbroker does not move data between containers; provision a new instance of ${to.name} instead`
  return undefined
}

/** What may change of a non-dedicated instance's parameters; a 422 names why not. */
function checkParameters(target: ServicePlan, given: Record<string, unknown>): void {
  const {plan, service} = target
  if (DISK_SIZE in given)
    throw badRequest(
      `invalid parameters: ${DISK_SIZE}: instances of ${describe(plan)} of ${service.name} have no disk of their own`,
    )
  if (!usesExecutables(plan.kind))
    throw new OsbError(
      422,
      `parameters of ${describe(plan)} of ${service.name} cannot be changed: it runs nothing of the instance's that they could change`,
    )
  const schema = plan.schemas?.service_instance?.update?.parameters
  if (!schema)
    throw new OsbError(
      422,
      `parameters of ${describe(plan)} of ${service.name} cannot be changed: the plan declares none for updates (schemas.service_instance.update.parameters), so its lifecycle executables take none`,
    )
  validateParameters(schema, given)
}

/**
 * Updates of static, shared and existing instances. Nothing is remade: a
 * plan change stays in the container (or the given credentials) the data
 * lives in, and where the lifecycle executables run, `/dbroker/provision`
 * runs again (it is idempotent) with the new plan and parameters; it failing
 * fails the update, which then changes nothing.
 */
export class KindUpdates {
  constructor(
    private readonly ctx: LifecycleContext,
    private readonly runner: OperationRunner,
    private readonly hosts: HostWait,
  ) {}

  async update(
    instance: ServiceInstance,
    current: ServicePlan,
    target: ServicePlan,
    body: UpdateBody,
    given: Record<string, unknown> | undefined,
    meta: RequestMeta,
  ): Promise<Reply> {
    const refused = refusedPlanChange(current, target)
    if (refused) throw new OsbError(422, refused)
    const planChanged = target.plan.id !== instance.planId
    if (given) checkParameters(target, given)
    if (instance.state !== 'ready')
      throw concurrencyError(
        `instance ${instance.id} is being ${instance.state === 'updating' ? 'updated' : 'deprovisioned'}`,
      )
    if (given && !planChanged && !this.ctx.catalog.planUpdateable(current.service, current.plan))
      throw new OsbError(422, `parameters of plan ${current.plan.name} of ${current.service.name} cannot be changed`)
    const parameters = {...instance.parameters, ...given}
    const maintenanceInfo = target.plan.maintenance_info ? {version: target.plan.maintenance_info.version} : null
    const contextChanged = body.context !== undefined && canonical(body.context) !== canonical(instance.context)
    if (
      !planChanged &&
      canonical(parameters) === canonical(instance.parameters) &&
      canonical(maintenanceInfo) === canonical(instance.maintenanceInfo)
    ) {
      if (contextChanged && Object.keys(body.context!).length > 0)
        await this.ctx.store.updateInstance(instance.id, {context: body.context})
      return ok()
    }
    if (target.plan.async_only && !meta.acceptsIncomplete) throw asyncRequired()
    const host = await this.hosts.hostOf(instance, meta)
    const requestKey = updatedRequestKey(instance, target.plan.id, parameters)
    const patch: InstancePatch = {
      planId: target.plan.id,
      parameters,
      maintenanceInfo,
      requestKey,
      // An adopted container's plan may name another of its ports; a shared instance's record is its container's.
      ...(target.plan.kind.type === 'shared' ? {} : {spec: noContainerSpec(instance.id, host, target.plan.kind)}),
      ...(contextChanged && Object.keys(body.context!).length > 0 ? {context: body.context} : {}),
    }
    const op = this.hosts.describe(this.runner.newOperation('update', instance.id, null, requestKey, meta), host)
    if (!(await beginOperation(this.ctx, changes.instanceMoved(instance.id, 'update', ['ready'], 'updating'), op)))
      throw concurrencyError(`instance ${instance.id} is being changed by another request`)
    this.runner.start(`i:${instance.id}`, op, (signal) =>
      this.runUpdate(instance, target.plan.kind, host, patch, op.createdAt, signal),
    )
    return this.runner.reply(op, meta, ok)
  }

  private async runUpdate(
    instance: ServiceInstance,
    kind: PlanKind,
    host: Host,
    patch: InstancePatch,
    since: number,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const updated = {...instance, planId: patch.planId!, parameters: patch.parameters!}
    if (!usesExecutables(kind))
      return {description: 'the instance was updated', change: changes.instanceUpdated(instance.id, patch)}
    let live: Host | undefined
    try {
      live = await this.hosts.hostBack(instance, host, since, signal)
      const {answer} = await runExecutable(
        this.ctx.agentFor(live),
        execTarget(updated, kind),
        'provision',
        lifecycleDocument(updated),
      )
      // The namespace is the instance's data: an answer that moves it would strand that data.
      for (const [key, value] of Object.entries(instance.credentials.namespace ?? {}))
        if (answer[key] !== undefined && answer[key] !== value)
          throw new Error(`/dbroker/provision answered another ${key} than the instance has`)
    } catch (error) {
      if (leaseLost(signal)) throw error
      // The executable is idempotent: run again with what the instance had, whatever the failed run changed goes back.
      if (live) await this.restore(instance, live)
      throw new Undone(
        new Error(`${errorMessage(error)}; the instance runs as before`),
        changes.instanceMoved(instance.id, 'update', ['updating'], 'ready'),
      )
    }
    return {description: 'the instance was updated', change: changes.instanceUpdated(instance.id, patch)}
  }

  /** What an update a broker restart interrupted leaves: the instance as it was, and a failed operation. */
  async abandon(
    instance: ServiceInstance,
    kind: PlanKind,
    host: Host,
    since: number,
    signal: AbortSignal,
  ): Promise<never> {
    const back = changes.instanceMoved(instance.id, 'update', ['updating'], 'ready')
    if (usesExecutables(kind)) {
      try {
        await this.restore(instance, await this.hosts.hostBack(instance, host, since, signal))
      } catch (error) {
        throw new Undone(error, back)
      }
    }
    throw new Undone(new Error('interrupted by a broker restart; nothing was changed'), back)
  }

  private async restore(instance: ServiceInstance, host: Host): Promise<void> {
    const kind = this.ctx.catalog.plan(instance.planId)?.plan.kind
    if (!kind || !usesExecutables(kind)) return
    await runExecutable(this.ctx.agentFor(host), execTarget(instance, kind), 'provision', lifecycleDocument(instance))
      .then(() => undefined)
      .catch((error) =>
        this.ctx.log.error(`instance ${instance.id} could not be restored after an update: ${errorMessage(error)}`),
      )
  }
}
