import {setMaxListeners} from 'node:events'

import type {AgentClient} from '../core/agent.js'
import {EngineError, errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Host, HostReachability} from '../core/types.js'
import type {Store} from '../store/index.js'
import type {BrokerEvents} from './events.js'
import {HEARTBEAT_MISSES, isLive} from './placement.js'

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`

/** A call to a host's agent cut short because the broker gave up on the host (dead, or unreachable by another call). */
export class HostLostError extends EngineError {
  constructor(
    readonly hostId: string,
    why: string,
  ) {
    super(
      `the call to host ${hostId}'s agent was cancelled: ${why}`,
      'try again once `dbroker hosts` shows the host alive',
    )
  }
}

/**
 * What this broker knows of its own calls to each host's agent (the outbound
 * direction): the first failed call marks the host unreachable at once, the
 * next answer (a call or the probe) brings it back. Heartbeats (inbound) stay
 * in the store; `overlay` combines both into the host the broker acts on.
 * Per broker: another broker may well reach the agent.
 */
export class Reachability {
  private readonly failing = new Map<string, {since: number; reason: string}>()
  /** Per host, what the calls in flight to its agent abort on; replaced once used, so later calls start afresh. */
  private readonly calls = new Map<string, AbortController>()
  /** Hosts silent for three heartbeats whose calls were cancelled already. */
  private readonly silent = new Set<string>()

  constructor(private readonly options: {events: BrokerEvents; log: Logger; now?: () => number}) {}

  private now(): number {
    return this.options.now?.() ?? Date.now()
  }

  /** The outcome of one call to the host's agent: `failure` says why no answer came. */
  reached(hostId: string, failure?: string): void {
    const was = this.failing.get(hostId)
    if (failure === undefined) {
      if (!was) return
      this.failing.delete(hostId)
      this.options.log.info(
        `host ${hostId} is reachable from the broker again after ${seconds(this.now() - was.since)} (broker -> agent)`,
      )
      this.options.events.emitChange({
        kind: 'host',
        id: hostId,
        action: 'back',
        state: 'alive',
        description: `reachable again after ${seconds(this.now() - was.since)}`,
      })
      return
    }
    if (was) {
      // Still failing (a probe): calls begun since the first failure that wait on the agent end too, without a new log line.
      this.cancelCalls(hostId, `host ${hostId} is unreachable from the broker (broker -> agent): ${failure}`)
      return
    }
    this.failing.set(hostId, {since: this.now(), reason: failure})
    this.cancelCalls(hostId, `host ${hostId} is unreachable from the broker (broker -> agent): ${failure}`)
    this.options.log.warn(
      `host ${hostId} is unreachable from the broker (broker -> agent): ${failure}; no new instances go there and sync requests for it answer 503 until it answers`,
    )
    this.options.events.emitChange({
      kind: 'host',
      id: hostId,
      action: 'unreachable',
      state: 'unreachable',
      description: `broker -> agent: ${failure}`,
    })
  }

  /** What a call to the host's agent starting now aborts on: the moment the broker gives up on the host. */
  callSignal(hostId: string): AbortSignal {
    let calls = this.calls.get(hostId)
    if (!calls) {
      calls = new AbortController()
      // Every call in flight to the host listens on it: many at once are normal, not a leak.
      setMaxListeners(0, calls.signal)
      this.calls.set(hostId, calls)
    }
    return calls.signal
  }

  private cancelCalls(hostId: string, why: string): void {
    const calls = this.calls.get(hostId)
    this.calls.delete(hostId)
    calls?.abort(new HostLostError(hostId, why))
  }

  /**
   * The heartbeats (inbound) of a host as the store has them: once it is
   * silent for three of them, the calls in flight to it are cancelled, once.
   */
  heard(host: Host, keepaliveMs: number): void {
    if (isLive(host, keepaliveMs, this.now())) {
      this.silent.delete(host.id)
      return
    }
    if (this.silent.has(host.id)) return
    this.silent.add(host.id)
    this.cancelCalls(
      host.id,
      `host ${host.id} is dead (agent -> broker: no heartbeat for ${seconds(this.now() - host.lastHeartbeat)})`,
    )
  }

  /** Whether the broker's last call to the host's agent failed. */
  failingOut(hostId: string): boolean {
    return this.failing.has(hostId)
  }

  /**
   * The host as the broker must treat it: `dead` while heartbeats stay away
   * (inbound), `unreachable` while they come but the broker's calls fail
   * (outbound), with the direction, the reason and since when.
   */
  overlay(host: Host, keepaliveMs: number): Host {
    const out = this.failing.get(host.id)
    const now = this.now()
    const silent =
      host.status === 'dead' || now - host.lastHeartbeat > (host.keepaliveMs ?? keepaliveMs) * HEARTBEAT_MISSES
    if (!out && !silent) return host
    const inbound: HostReachability = {
      direction: 'in',
      reason: `no heartbeat for ${seconds(now - host.lastHeartbeat)}`,
      since: host.lastHeartbeat,
    }
    const reachability: HostReachability = !out
      ? inbound
      : silent
        ? {
            direction: 'both',
            reason: `${inbound.reason}; broker -> agent: ${out.reason}`,
            since: Math.min(out.since, host.lastHeartbeat),
          }
        : {direction: 'out', reason: out.reason, since: out.since}
    return {...host, status: silent ? 'dead' : 'unreachable', reachability}
  }
}

/** Why a host can't be used now, in words for a 503 or a waiting operation: `host h1 is unreachable for 42 s (broker -> agent: ...)`. */
export function describeUnreachable(host: Host, now = Date.now()): string {
  // A host read without this broker's overlay is unusable only for want of heartbeats.
  const r = host.reachability ?? {
    direction: 'in',
    reason: `no heartbeat for ${seconds(now - host.lastHeartbeat)}`,
    since: host.lastHeartbeat,
  }
  const direction = {in: 'agent -> broker', out: 'broker -> agent', both: 'both ways'}[r.direction]
  return `host ${host.id} is ${host.status === 'dead' ? 'dead' : 'unreachable'} for ${seconds(now - r.since)} (${direction}: ${r.reason})`
}

/** Whether an operation failed because the broker could not reach its host's agent: a sync request answers 503 then. */
export function isUnreachableFailure(description: string): boolean {
  return / is unreachable from the broker \(broker -> agent\)|the call to host \S+'s agent was cancelled: /.test(
    description,
  )
}

/** The host whose agent could not be reached, when that is why `error` happened. */
export function unreachableHost(error: unknown): string | undefined {
  const hostId = (error as {hostId?: unknown} | undefined)?.hostId
  return typeof hostId === 'string' && isUnreachableFailure(errorMessage(error)) ? hostId : undefined
}

/**
 * The host's agent as the admin API streams from it: a followed log stream
 * that stays quiet for `idleMs` has the agent probed, and one that does not
 * answer marks the host unreachable, which ends the stream (its request
 * listens on the host's call signal) with the reason instead of hanging.
 */
export function watchedAgent<Agent extends AgentClient & {probe(): Promise<void>}>(
  agent: Agent,
  options: {hostId: string; reachability: Reachability; idleMs: number; log: Logger},
): Agent {
  const {logs} = agent
  if (!logs) return agent
  const follow = async (instanceId: string, stream: AsyncIterable<string>, lost: AbortSignal) => {
    let heard = Date.now()
    const watch = setInterval(() => {
      if (Date.now() - heard >= options.idleMs) void agent.probe().catch(() => undefined)
    }, options.idleMs)
    watch.unref()
    async function* watched() {
      try {
        for await (const chunk of stream) {
          heard = Date.now()
          yield chunk
        }
      } catch (error) {
        if (!lost.aborted) throw error
        options.log.warn(`the followed log stream of instance ${instanceId} ended: ${errorMessage(lost.reason)}`)
        throw lost.reason
      } finally {
        clearInterval(watch)
      }
    }
    return watched()
  }
  return new Proxy(agent, {
    get(target, property, receiver) {
      if (property !== 'logs') return Reflect.get(target, property, receiver) as unknown
      return async (instanceId: string, logOptions: Parameters<NonNullable<AgentClient['logs']>>[1]) => {
        // Taken before the call, so it is the one that call's request listens on.
        const lost = options.reachability.callSignal(options.hostId)
        const stream = await logs.call(target, instanceId, logOptions)
        return logOptions.follow ? follow(instanceId, stream, lost) : stream
      }
    },
  })
}

/** What an operation waiting for the host says: `waiting for host h1, unreachable for 42 s (broker -> agent: ...)`. */
export function describeWait(host: Host, now = Date.now()): string {
  return describeUnreachable(host, now).replace(/^host (\S+) is /, 'waiting for host $1, ')
}

const HOST_READS = new Set(['getHost', 'listHosts'])

/**
 * The store with each host it returns overlaid by this broker's reachability,
 * inside transactions too: placement, sync 503s and waiting operations then
 * see one state without knowing where it came from.
 */
export function reachableStore(store: Store, reachability: Reachability, keepaliveMs: number): Store {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver) as unknown
        if (typeof value !== 'function') return value
        if (property === 'transaction') {
          return (work: (tx: unknown) => Promise<unknown>, ...rest: unknown[]) =>
            (value as (...args: unknown[]) => Promise<unknown>).call(object, (tx: object) => work(wrap(tx)), ...rest)
        }
        if (!HOST_READS.has(property as string)) return (value as (...args: unknown[]) => unknown).bind(object)
        return async (...args: unknown[]) => {
          const found =
            (await (value as (...a: unknown[]) => Promise<Host | Host[] | undefined>).apply(object, args)) ?? undefined
          if (Array.isArray(found)) return found.map((h) => reachability.overlay(h, keepaliveMs))
          return found && reachability.overlay(found, keepaliveMs)
        }
      },
    })
  return wrap(store)
}
