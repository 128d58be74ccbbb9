import {planContainer} from '../../catalog/index.js'
import {errorMessage, OsbError} from '../../core/errors.js'
import type {Host, ServiceInstance} from '../../core/types.js'
import {placeInstance} from '../placement.js'
import {buildSpec} from '../spec.js'
import {bookPorts, type LifecycleContext, planOf, type ServicePlan} from './context.js'
import type {HostWait} from './host-wait.js'

/** A provision's host could not be reached and no other host can take the instance. */
export class NoHostLeftError extends Error {
  constructor(
    readonly hostId: string,
    message: string,
    cause: unknown,
  ) {
    super(message, {cause})
  }
}

/**
 * Where a provision goes on when its host's agent could not be reached:
 * another eligible host (its ports there, the old ones released, what the old
 * host may have made removed once it answers), or the same host once it is
 * back. `tried` (a sync request) excludes the hosts tried already and fails
 * at once when none is left; without it the search goes on, up to the plan's
 * maximum_polling_duration.
 */
export async function placeAgain(
  ctx: LifecycleContext,
  hosts: HostWait,
  attempt: {
    instance: ServiceInstance
    from: Host
    failure: unknown
    tried?: Set<string>
    signal: AbortSignal
    /** The plan the provision started with: a catalog changed meanwhile doesn't change it. */
    plan?: ServicePlan
  },
): Promise<{instance: ServiceInstance; host: Host}> {
  const {instance, from, failure, tried, signal} = attempt
  const {seconds, deadline} = hosts.limit(instance, instance.createdAt)
  for (;;) {
    const back = tried ? undefined : await ctx.store.getHost(from.id)
    if (back && hosts.live(back)) return {instance, host: back}
    try {
      const moved = await moveInstance(ctx, instance, from, tried ?? new Set([from.id]), attempt.plan)
      ctx.log.warn(
        `instance ${instance.id} could not be made on host ${from.id} (${errorMessage(failure)}): placed again on host ${moved.host.id} port ${moved.instance.spec.ports.map((p) => p.host).join(',')}`,
      )
      ctx.events.emitChange({
        kind: 'instance',
        id: instance.id,
        instanceId: instance.id,
        action: 'placed again',
        state: 'provisioning',
        description: `host ${from.id} could not be reached: now on host ${moved.host.id}`,
      })
      hosts.removeLeftover(instance, from.id)
      return moved
    } catch (error) {
      if (!(error instanceof OsbError && error.status === 503)) throw error
      if (tried || ctx.clock.now() >= deadline)
        throw new NoHostLeftError(
          from.id,
          `${errorMessage(failure)}; no other host can take the instance${tried ? '' : ` within ${seconds} s`} (${error.message})`,
          failure,
        )
    }
    await hosts.pause(deadline, signal)
    signal.throwIfAborted()
  }
}

/** The instance, still provisioning on `from`, on a host not in `exclude`: a new row there with its ports, the old one gone. */
async function moveInstance(
  ctx: LifecycleContext,
  instance: ServiceInstance,
  from: Host,
  exclude: Set<string>,
  started?: ServicePlan,
): Promise<{instance: ServiceInstance; host: Host}> {
  const {service, plan} = started ?? planOf(ctx.catalog, instance)
  return ctx.store.transaction(async (tx) => {
    await tx.lockPlacement()
    const stored = await tx.getInstance(instance.id)
    if (stored?.state !== 'provisioning' || stored.hostId !== from.id)
      throw new Error(`instance ${instance.id} is no longer being provisioned on host ${from.id}`)
    const host = placeInstance(
      (await tx.listHosts()).filter((h) => !exclude.has(h.id)),
      await tx.countInstancesByHost(),
      await tx.usedPortsByHost(),
      plan,
      {strategy: ctx.strategy, keepaliveMs: ctx.keepaliveMs, memory: await tx.memoryByHost()},
    )
    // The row goes with its ports on the old host; nothing else hangs off an instance still provisioning.
    await tx.deleteInstance(instance.id)
    const ports = await bookPorts(tx, host, instance.id, planContainer(plan).ports)
    const spec = buildSpec({
      instanceId: instance.id,
      installationId: await tx.installationId(),
      service,
      plan,
      host,
      ports,
      credentials: instance.credentials,
      parameters: instance.parameters,
    })
    const moved: ServiceInstance = {...instance, hostId: host.id, spec, updatedAt: ctx.clock.now()}
    await tx.insertInstance(moved, stored.requestKey)
    return {instance: moved, host}
  })
}
