import {errorMessage, OsbError} from '../../core/errors.js'
import type {Host, Operation, ServiceInstance} from '../../core/types.js'
import type {RequestMeta} from '../osb-schema.js'
import {isLive} from '../placement.js'
import {describeUnreachable, describeWait} from '../reachability.js'
import {type LifecycleContext, pollingSeconds} from './context.js'
import {kindOf} from './plan-kinds.js'

/**
 * Waiting for a host that stopped heartbeating: a sync request fails fast, an
 * async operation waits for it up to its plan's maximum_polling_duration.
 */
export class HostWait {
  constructor(private readonly ctx: LifecycleContext) {}

  live(host: Host): boolean {
    return isLive(host, this.ctx.keepaliveMs, this.ctx.clock.now())
  }

  private age(host: Host): number {
    return Math.round((this.ctx.clock.now() - host.lastHeartbeat) / 1000)
  }

  /** The host an existing instance lives on; dead, it is a 503 for a sync request and waited for by an async one. */
  async hostOf(instance: ServiceInstance, meta: RequestMeta): Promise<Host> {
    const host = await this.ctx.store.getHost(instance.hostId)
    if (!host) throw new OsbError(500, `host ${instance.hostId} of instance ${instance.id} is not registered`)
    if (!this.live(host) && !this.hostless(instance) && !meta.acceptsIncomplete) {
      throw new OsbError(
        503,
        `${describeUnreachable(host, this.ctx.clock.now())}; try again when it is back, or send accepts_incomplete=true to wait for it`,
      )
    }
    return host
  }

  /** A static instance runs nothing on the host its row names: nothing about it waits for that host. */
  private hostless(instance: ServiceInstance): boolean {
    return kindOf(this.ctx.catalog, instance).type === 'static'
  }

  /** An operation that will wait for a dead host says so while it waits. */
  describe(op: Operation, host: Host): Operation {
    if (this.live(host)) return op
    return {
      ...op,
      description: `${op.kind} ${describeWait(host, this.ctx.clock.now())}`,
    }
  }

  /**
   * The instance's host once it is live, as the store has it then (its agent
   * URL may have changed). An operation begun while the host was dead waits
   * here, up to the plan's maximum_polling_duration since it began.
   */
  async hostBack(instance: ServiceInstance, host: Host, since: number, signal?: AbortSignal): Promise<Host> {
    if (this.live(host) || this.hostless(instance)) return host
    const {seconds, deadline} = this.limit(instance, since)
    for (;;) {
      const now = await this.ctx.store.getHost(host.id)
      if (!now) throw new Error(`host ${host.id} is no longer registered`)
      if (this.live(now)) {
        this.ctx.log.info(`host ${host.id} is back: instance ${instance.id} goes on`)
        return now
      }
      if (this.ctx.clock.now() >= deadline)
        throw new Error(`host ${host.id} did not come back within ${seconds} s (last heartbeat ${this.age(now)} s ago)`)
      await this.pause(deadline, signal)
    }
  }

  /**
   * `hostBack` for work that runs inside the instance's container (hooks): a
   * host that comes back wiped runs it only once its agent re-made the
   * container. `waited` says the host had been dead.
   */
  async containerBack(
    instance: ServiceInstance,
    host: Host,
    since: number,
    signal?: AbortSignal,
  ): Promise<{host: Host; waited: boolean}> {
    const live = await this.hostBack(instance, host, since, signal)
    // An adopted container carries no labels of dbroker's: it is the operator's to bring back.
    if (live === host || kindOf(this.ctx.catalog, instance).type === 'existing') return {host: live, waited: false}
    const {seconds, deadline} = this.limit(instance, since)
    const agent = this.ctx.agentFor(live)
    for (;;) {
      const state = (await agent.list().catch(() => [])).find((c) => c.instanceId === instance.spec.instanceId)
      if (state?.status === 'running') return {host: live, waited: true}
      if (this.ctx.clock.now() >= deadline)
        throw new Error(`host ${host.id} is back but runs no container for instance ${instance.id} after ${seconds} s`)
      await this.pause(deadline, signal)
    }
  }

  /**
   * What a provision may have left on a host the broker could not reach (it
   * was placed again elsewhere, or failed) goes once the host is live again,
   * unless the instance lives there by then. In the background, for as long
   * as an operation may wait for a host.
   */
  removeLeftover(instance: ServiceInstance, hostId: string): void {
    const {seconds, deadline} = this.limit(instance, this.ctx.clock.now())
    const {store, log} = this.ctx
    const sweep = async () => {
      for (;;) {
        await this.pause(deadline)
        const host = await store.getHost(hostId)
        if (!host || (await store.getInstance(instance.id))?.hostId === hostId) return
        if (this.live(host)) {
          try {
            await this.ctx.agentFor(host).remove(instance.id)
            log.info(`removed what instance ${instance.id} left on host ${hostId} while it was out of reach`)
            return
          } catch (error) {
            log.debug(`instance ${instance.id} left a container on host ${hostId}: ${errorMessage(error)}`)
          }
        }
        if (this.ctx.clock.now() >= deadline) {
          log.warn(
            `instance ${instance.id} may have left a container on host ${hostId}: the host did not answer within ${seconds} s; remove it with \`docker rm\` there`,
          )
          return
        }
      }
    }
    void sweep().catch((error) =>
      log.warn(`instance ${instance.id} may have left a container on host ${hostId}: ${errorMessage(error)}`),
    )
  }

  /** How long an operation on the instance may wait for hosts, from `since`. */
  limit(instance: ServiceInstance, since: number): {seconds: number; deadline: number} {
    const seconds = pollingSeconds(this.ctx.catalog, instance.planId)
    return {seconds, deadline: since + seconds * 1000}
  }

  /** One wait between two looks at a host (at most a keepalive), not past `deadline`. */
  pause(deadline: number, signal?: AbortSignal): Promise<void> {
    return this.ctx.clock.sleep(
      Math.max(10, Math.min(1000, this.ctx.keepaliveMs, deadline - this.ctx.clock.now())),
      signal,
    )
  }
}
