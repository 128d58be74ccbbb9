import type {PlanDef, ServiceDef} from '../../catalog/index.js'
import {planContainer} from '../../catalog/index.js'
import {errorMessage} from '../../core/errors.js'
import type {ContainerSpec, Host, ServiceInstance} from '../../core/types.js'
import type {Store} from '../../store/index.js'
import type {SharedContainer} from '../../store/repositories/shared-containers.js'
import {instanceCredentials} from '../credentials.js'
import {placeInstance} from '../placement.js'
import {buildSpec} from '../spec.js'
import {bookPorts, type LifecycleContext} from './context.js'

/** The container a shared plan's instances live in on each host: the kind's name, else the service's and plan's. */
export const sharedContainerName = (service: ServiceDef, plan: PlanDef): string =>
  (plan.kind.type === 'shared' && plan.kind.container) || `${service.name}-${plan.name}`

/** The agent-side id of a shared container (what its labels and its members' specs carry). */
export const sharedContainerId = (name: string, hostId: string) => `shared.${name}.${hostId}`
export const isSharedContainerId = (id: string) => id.startsWith('shared.')

/** The last instance's deprovision is removing the container a provision would use: it waits and places again. */
export class SharedContainerBusy extends Error {}

/**
 * Shared plans' containers: placed with the first instance on a host (in its
 * provision's transaction, under the placement lock, so two first provisions
 * make one), started through the same agent apply as any container, in the
 * host's desired state once ready, and removed by the last member's
 * deprovision, which claims it (`removing`) in a transaction that counts the
 * members under the same lock: a provision either counts as a member first,
 * or sees `removing` and waits for the removal to finish.
 */
export class SharedContainers {
  constructor(private readonly ctx: LifecycleContext) {}

  /** The plans whose instances live in the container `name`. */
  private memberPlans(name: string): string[] {
    return this.ctx.catalog.definition.services.flatMap((service) =>
      service.plans
        .filter((p) => p.kind.type === 'shared' && sharedContainerName(service, p) === name)
        .map((p) => p.id),
    )
  }

  /** In the provision's transaction: the host (one that has the container when one can) and the container, new or not. */
  async place(tx: Store, service: ServiceDef, plan: PlanDef): Promise<{host: Host; container: SharedContainer}> {
    await tx.lockPlacement()
    const name = sharedContainerName(service, plan)
    const [hosts, rows, counts, used, memory] = await Promise.all([
      tx.listHosts(),
      tx.sharedContainers.list(),
      tx.countInstancesByHost(),
      tx.usedPortsByHost(),
      tx.memoryByHost(),
    ])
    const options = {strategy: this.ctx.strategy, keepaliveMs: this.ctx.keepaliveMs, memory}
    const withIt = hosts.filter((h) => rows.some((r) => r.name === name && r.hostId === h.id))
    let host: Host | undefined
    // Another instance in a running container needs no port and no memory of its own.
    if (withIt.length > 0) {
      try {
        host = placeInstance(withIt, counts, used, {...plan, container: undefined}, options)
      } catch {
        host = undefined
      }
    }
    host ??= placeInstance(hosts, counts, used, plan, options)
    const found = rows.find((r) => r.name === name && r.hostId === host.id)
    if (found?.state === 'removing')
      throw new SharedContainerBusy(`shared container ${name} on host ${host.id} is being removed`)
    if (found) return {host, container: found}
    const id = sharedContainerId(name, host.id)
    const ports = await bookPorts(tx, host, id, planContainer(plan).ports)
    const spec = buildSpec({
      instanceId: id,
      installationId: await tx.installationId(),
      service,
      plan,
      host,
      ports,
      credentials: instanceCredentials(plan),
      parameters: {},
    })
    const container: SharedContainer = {
      id,
      hostId: host.id,
      name,
      planId: plan.id,
      state: 'creating',
      spec: {...spec, labels: {...spec.labels, 'dbroker.shared': name}},
      createdAt: this.ctx.clock.now(),
    }
    await tx.sharedContainers.insert(container)
    return {host, container}
  }

  /** Starts the instance's container unless it runs already; true when this call made it. */
  async ensure(
    instance: ServiceInstance,
    host: Host,
    signal: AbortSignal,
    onProgress?: (line: string) => void,
  ): Promise<boolean> {
    const {store} = this.ctx
    const container = await store.sharedContainers.get({id: instance.spec.instanceId})
    if (!container || container.state === 'removing')
      throw new Error(`shared container ${instance.spec.name} of instance ${instance.id} is gone`)
    if (container.state === 'ready') return false
    // Two first provisions apply the same spec: the agent runs them one after the other, and the second finds it running.
    await this.ctx.agentFor(host).apply(container.spec, {signal, onProgress})
    await store.sharedContainers.transition(container.id, ['creating'], 'ready', this.ctx.clock.now())
    this.ctx.log.info(`made shared container ${container.name} on host ${host.id}`)
    return true
  }

  /** Whether the instance's container is still there to run its executables. */
  async serves(instance: ServiceInstance): Promise<boolean> {
    const container = await this.ctx.store.sharedContainers.get({id: instance.spec.instanceId})
    return container !== undefined && container.state !== 'removing'
  }

  /** Removes the instance's container when no other instance lives in it (the instance's own row may still be there). */
  async release(instance: ServiceInstance, host: Host): Promise<void> {
    const {store, log} = this.ctx
    const id = instance.spec.instanceId
    const claimed = await store.transaction(async (tx) => {
      // The same lock as placement: a provision's member row is either counted here or sees `removing`.
      await tx.lockPlacement()
      const container = await tx.sharedContainers.get({id})
      if (!container || container.state === 'removing') return undefined
      if ((await tx.sharedContainers.countMembers(container.hostId, this.memberPlans(container.name), instance.id)) > 0)
        return undefined
      const now = this.ctx.clock.now()
      return (await tx.sharedContainers.transition(id, ['creating', 'ready'], 'removing', now)) ? container : undefined
    })
    if (!claimed) return
    try {
      await this.ctx.agentFor(host).remove(id)
    } catch (error) {
      await store.sharedContainers.transition(id, ['removing'], 'ready', this.ctx.clock.now())
      throw new Error(`shared container ${claimed.name} could not be removed: ${errorMessage(error)}`, {cause: error})
    }
    await store.sharedContainers.delete(id)
    log.info(`removed shared container ${claimed.name} on host ${claimed.hostId} with its last instance`)
  }

  /** The shared containers a host should run: those made (ready). */
  async desired(hostId: string): Promise<ContainerSpec[]> {
    return (await this.ctx.store.sharedContainers.list({hostId})).filter((c) => c.state === 'ready').map((c) => c.spec)
  }

  /** The instances living in a shared container. */
  async members(id: string, hostId?: string): Promise<ServiceInstance[]> {
    return (await this.ctx.store.listInstances(hostId ? {hostId} : {})).filter((i) => i.spec.instanceId === id)
  }
}
