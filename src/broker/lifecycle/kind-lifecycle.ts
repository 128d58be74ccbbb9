import type {PlanDef, ServiceDef} from '../../catalog/index.js'
import {errorMessage, OsbError} from '../../core/errors.js'
import type {ContainerSpec, Host, InstanceCredentials, ServiceInstance} from '../../core/types.js'
import type {Store} from '../../store/index.js'
import {leaseLost} from '../lease-fence.js'
import {isLive} from '../placement.js'
import type {LifecycleContext} from './context.js'
import type {HostWait} from './host-wait.js'
import {type Outcome, Undone} from './operations.js'
import {
  execTarget,
  instanceDatabase,
  kindOf,
  lifecycleDocument,
  noContainerSpec,
  runExecutable,
  usesExecutables,
} from './plan-kinds.js'
import {SharedContainers} from './shared-containers.js'
import {changes} from './transition.js'

/** A deprovision that worked, of any kind: the row, its bindings and spares go. */
export const deprovisioned = (ctx: LifecycleContext, instanceId: string): Outcome => ({
  description: 'the instance and its data are gone',
  change: changes.instanceRemoved(instanceId, 'deprovision'),
  afterwards: () => ctx.log.info(`deprovisioned instance ${instanceId}`),
})

/** What a binding's credentials say themselves: a provision's answer can't replace them. */
const BINDING_FIELDS = ['host', 'port', 'username', 'password', 'uri', 'database']

/** What provision answered besides the database it was asked to make: the instance's namespace (redis: key_prefix). */
function provisionedNamespace(answer: Record<string, unknown>, instance: ServiceInstance) {
  const {database, ...rest} = answer
  if (database !== undefined && database !== instance.credentials.database)
    throw new Error('/dbroker/provision answered another database than the broker asked for')
  const namespace = Object.entries(rest).filter(
    (e): e is [string, string] => typeof e[1] === 'string' && !BINDING_FIELDS.includes(e[0]),
  )
  return namespace.length > 0 ? Object.fromEntries(namespace) : undefined
}

/** Where a new instance of a static, shared or existing plan lives, and what its row keeps. */
export interface KindPlacement {
  host: Host
  spec: ContainerSpec
  credentials: InstanceCredentials
}

/**
 * Provision and deprovision of the plan kinds other than `dedicated`: a
 * static instance runs nothing; a shared one gets its database (or namespace)
 * in its host's shared container through `/dbroker/provision`, made on first
 * use and removed with the last instance; an existing one gets it in the
 * container the operator adopted, which dbroker never makes or removes.
 */
export class KindLifecycle {
  readonly shared: SharedContainers

  constructor(
    private readonly ctx: LifecycleContext,
    private readonly hosts: HostWait,
  ) {
    this.shared = new SharedContainers(ctx)
  }

  /** In the provision's transaction. */
  async place(tx: Store, service: ServiceDef, plan: PlanDef, instanceId: string): Promise<KindPlacement> {
    const {kind} = plan
    // A database per instance, unless the service has none (redis: provision answers a key prefix instead).
    const hasDatabase = usesExecutables(kind) && (plan.container?.credentials.database ?? true)
    const database = hasDatabase ? {database: instanceDatabase(instanceId)} : {}
    const credentials = {username: '', password: '', ...database}
    if (usesExecutables(kind)) await refuseNameClash(tx, instanceId)
    if (kind.type === 'shared') {
      const {host, container} = await this.shared.place(tx, service, plan)
      return {host, spec: container.spec, credentials}
    }
    let host: Host | undefined
    if (kind.type === 'existing') {
      host = await tx.getHost(kind.host)
      if (!host)
        throw new OsbError(
          503,
          `host ${kind.host} of plan ${plan.name}'s existing container ${kind.container} is not registered`,
        )
    } else {
      // A static instance runs nothing; the row still names a host (any: none is ever called for it).
      const all = await tx.listHosts()
      host = all.find((h) => isLive(h, this.ctx.keepaliveMs, this.ctx.clock.now())) ?? all[0]
      if (!host) throw new OsbError(503, 'no host has registered')
    }
    return {host, spec: noContainerSpec(instanceId, host, kind), credentials}
  }

  async runProvision(
    instance: ServiceInstance,
    host: Host,
    signal: AbortSignal,
    onProgress?: (line: string) => void,
  ): Promise<Outcome> {
    const kind = kindOf(this.ctx.catalog, instance)
    const ready = {
      description: 'the instance is ready',
      change: changes.instanceMoved(instance.id, 'provision', ['provisioning'], 'ready'),
    }
    if (!usesExecutables(kind)) return ready
    let provisioned = false
    try {
      const live = await this.hosts.hostBack(instance, host, instance.createdAt, signal)
      if (kind.type === 'shared') await this.shared.ensure(instance, live, signal, onProgress)
      const agent = this.ctx.agentFor(live)
      provisioned = true
      const {answer} = await runExecutable(agent, execTarget(instance, kind), 'provision', lifecycleDocument(instance))
      const namespace = provisionedNamespace(answer, instance)
      if (namespace)
        await this.ctx.store.updateInstance(instance.id, {credentials: {...instance.credentials, namespace}})
    } catch (error) {
      if (leaseLost(signal)) throw error
      // Nothing of the instance stays: what provision may have made, then its container if it was the only one there.
      if (provisioned) await this.dropDatabase(instance, host)
      if (kind.type === 'shared')
        await this.shared
          .release(instance, host)
          .catch((e) => this.ctx.log.warn(`after a failed provision of ${instance.id}: ${errorMessage(e)}`))
      throw new Undone(error, changes.instanceRemoved(instance.id, 'provision', 'failed'))
    }
    return ready
  }

  async runDeprovision(
    instance: ServiceInstance,
    host: Host,
    previous: ServiceInstance['state'],
    since: number,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    const kind = kindOf(this.ctx.catalog, instance)
    try {
      if (usesExecutables(kind)) {
        const live = await this.hosts.hostBack(instance, host, since, signal)
        // A shared container that is gone took the instance's database with it.
        if (kind.type !== 'shared' || (await this.shared.serves(instance))) {
          const target = execTarget(instance, kind)
          await runExecutable(this.ctx.agentFor(live), target, 'deprovision', lifecycleDocument(instance)).catch(
            async (error: unknown) => {
              if (kind.type !== 'shared' || (await this.shared.serves(instance))) throw error
            },
          )
        }
        if (kind.type === 'shared') await this.shared.release(instance, live)
      }
    } catch (error) {
      throw new Undone(error, changes.instanceMoved(instance.id, 'deprovision', ['deprovisioning'], previous))
    }
    return deprovisioned(this.ctx, instance.id)
  }

  /** Best effort after a failed provision: the executable is idempotent and succeeds on what is already gone. */
  private async dropDatabase(instance: ServiceInstance, host: Host): Promise<void> {
    const kind = kindOf(this.ctx.catalog, instance)
    await runExecutable(
      this.ctx.agentFor(host),
      execTarget(instance, kind),
      'deprovision',
      lifecycleDocument(instance),
    ).catch((error) =>
      this.ctx.log.warn(`the database of failed instance ${instance.id} may remain: ${errorMessage(error)}`),
    )
  }

  /**
   * After convergence re-made a shared container (a new volume, perhaps): each
   * instance in it gets its database again (provision is idempotent), then
   * `replay` gives back its bindings' users. Returns how many instances.
   */
  async replayShared(
    sharedId: string,
    hostId: string | undefined,
    replay: (instanceId: string) => Promise<number>,
  ): Promise<number> {
    const members = (await this.shared.members(sharedId, hostId)).filter((i) => ['ready', 'updating'].includes(i.state))
    let restored = 0
    for (const instance of members) {
      const host = await this.ctx.store.getHost(instance.hostId)
      if (!host) continue
      try {
        const kind = kindOf(this.ctx.catalog, instance)
        await runExecutable(
          this.ctx.agentFor(host),
          execTarget(instance, kind),
          'provision',
          lifecycleDocument(instance),
        )
        await replay(instance.id)
        restored++
      } catch (error) {
        this.ctx.log.warn(
          `instance ${instance.id} could not be restored in shared container ${sharedId}: ${errorMessage(error)}`,
        )
      }
    }
    return restored
  }
}

/**
 * Images name an instance's database, key prefix and roles from 48 bits of SHA-256(instance_id): an id whose
 * digest starts like another instance's would be handed that instance's data, so it is refused.
 */
async function refuseNameClash(tx: Store, instanceId: string): Promise<void> {
  const name = instanceDatabase(instanceId)
  const clash = (await tx.listInstances()).find((i) => i.id !== instanceId && instanceDatabase(i.id) === name)
  if (clash)
    throw new OsbError(
      400,
      `instance id ${instanceId} names its data like instance ${clash.id} does (${name}); use another id`,
    )
}
