import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Host} from '../core/types.js'
import type {Store} from '../store/index.js'
import type {BrokerEvents} from './events.js'
import type {Provisioner} from './lifecycle/index.js'
import {HEARTBEAT_MISSES, isLive} from './placement.js'
import type {Reachability} from './reachability.js'

export interface Liveness {
  stop(): Promise<void>
}

/** Runs `beat` now and every `everyMs`, one at a time; a failed beat is logged and the next one tries again. */
export function every(everyMs: number, beat: () => Promise<void>, log: Logger, what: string): Liveness {
  let running: Promise<void> = Promise.resolve()
  let busy = false
  let stopped = false
  const tick = () => {
    if (busy || stopped) return
    busy = true
    running = beat()
      .catch((error) => log.warn(`${what} failed: ${errorMessage(error)}`))
      .finally(() => {
        busy = false
      })
  }
  tick()
  const timer = setInterval(tick, everyMs)
  timer.unref()
  return {
    async stop() {
      stopped = true
      clearInterval(timer)
      await running
    },
  }
}

/**
 * Marks dead each host that missed three heartbeats of its own interval.
 * Several brokers may sweep one store: the store's compare-and-set lets one
 * of them mark (and announce) each host.
 */
export function startHostSweeper(options: {
  store: Store
  events: BrokerEvents
  keepaliveMs: number
  log: Logger
}): Liveness {
  const {store, events, log} = options
  return every(
    Math.max(200, Math.floor(options.keepaliveMs / 2)),
    async () => {
      for (const host of await store.markDeadHosts(options.keepaliveMs, HEARTBEAT_MISSES)) {
        const age = Math.round((Date.now() - host.lastHeartbeat) / 1000)
        log.warn(
          `host ${host.id} is dead (agent -> broker): no heartbeat for ${age} s; its instances fail fast until it is back`,
        )
        events.emitChange({
          kind: 'host',
          id: host.id,
          action: 'dead',
          state: 'dead',
          description: `no heartbeat for ${age} s`,
        })
      }
    },
    log,
    'the host sweep',
  )
}

/**
 * While a host is unreachable or dead, the broker probes its agent's health
 * endpoint (short deadline) every half keepalive: the first answer brings the
 * outbound direction back at once, and tells the agent to heartbeat now.
 * A host found dead has its calls in flight cancelled.
 */
export function startReachabilityProbes(options: {
  store: Store
  reachability: Reachability
  probe: (host: Host) => Promise<void>
  keepaliveMs: number
  log: Logger
}): Liveness {
  const {store, reachability} = options
  return every(
    Math.max(200, Math.floor(options.keepaliveMs / 2)),
    async () => {
      const all = await store.listHosts()
      for (const host of all) reachability.heard(host, options.keepaliveMs)
      const hosts = all.filter((h) => h.agentUrl && (reachability.failingOut(h.id) || !isLive(h, options.keepaliveMs)))
      // The probe records its own outcome in `reachability`; a failure is the news, not an error.
      await Promise.all(hosts.map((h) => options.probe(h).catch(() => undefined)))
    },
    options.log,
    'the reachability probe',
  )
}

/**
 * The broker's lease on its operations: it heartbeats its row in the store,
 * and takes over the in-progress operations of any broker whose lease ran
 * out (killed, or cut off), so any broker finishes what another started.
 * A broker that can't renew its own lease in time stops its operations where
 * they stand, undoing nothing: the broker that takes them over finishes them.
 * Once it renews again, it resumes those nobody took.
 */
export function startBrokerLease(options: {
  store: Store
  provisioner: Pick<Provisioner, 'resume' | 'abandon'>
  brokerId: string
  url: string | null
  leaseMs: number
  log: Logger
}): Liveness {
  const {store, provisioner, brokerId, log} = options
  const expired = options.leaseMs * HEARTBEAT_MISSES
  // Stop half a beat before another broker may claim the operations, so the two never run one at once.
  const holdMs = expired - options.leaseMs / 2
  let heldSince = Date.now()
  let lapsed: Promise<number> | undefined
  let stopped = false
  let watchdog: NodeJS.Timeout | undefined
  // Its own timer: a lease beat that hangs on the store must not keep the broker from noticing its lease ran out.
  const arm = () => {
    clearTimeout(watchdog)
    watchdog = setTimeout(lapse, Math.max(0, heldSince + holdMs - Date.now()))
    watchdog.unref()
  }
  const lapse = () => {
    if (stopped || lapsed) return
    const seconds = Math.round((Date.now() - heldSince) / 1000)
    const reason = `broker ${brokerId} could not renew its lease for ${seconds} s; another broker may own its operations now`
    log.warn(`${reason}: stopping its running operations without cleanup`)
    lapsed = provisioner.abandon(reason)
  }
  arm()

  const renewed = async (at: number) => {
    // A renewal that took longer than the lease came too late: others may have seen it expire meanwhile.
    if (Date.now() - at >= holdMs) return
    heldSince = at
    arm()
    if (!lapsed) return
    const abandoned = await lapsed
    lapsed = undefined
    const resumed = await provisioner.resume()
    log.info(
      `broker ${brokerId} holds its lease again: of the ${abandoned} operation(s) it had stopped, ${resumed} that no other broker took over go on here`,
    )
  }

  const lease = every(
    options.leaseMs,
    async () => {
      const now = Date.now()
      await store.brokerHeartbeat(brokerId, options.url, now)
      await renewed(now)
      const brokers = await store.listBrokers()
      const live = new Set(brokers.filter((b) => now - b.heartbeatAt <= expired).map((b) => b.id))
      const known = new Set(brokers.map((b) => b.id))
      // An owner without a row stopped cleanly but left work behind (its drain timed out): that work is orphaned too.
      const dead = new Set(
        (await store.operationsInProgress())
          .filter(
            (op) =>
              op.owner !== null &&
              op.owner !== brokerId &&
              !live.has(op.owner) &&
              (known.has(op.owner) || now - op.updatedAt > expired),
          )
          .map((op) => op.owner!),
      )
      if (dead.size > 0) {
        const taken = await provisioner.resume([...dead])
        if (taken > 0) log.info(`took over ${taken} operation(s) of stopped broker(s) ${[...dead].join(', ')}`)
      }
      const owning = new Set((await store.operationsInProgress()).map((op) => op.owner))
      for (const broker of brokers)
        if (!live.has(broker.id) && !owning.has(broker.id)) await store.removeBroker(broker.id)
    },
    log,
    'the broker lease',
  )
  return {
    async stop() {
      stopped = true
      clearTimeout(watchdog)
      await lease.stop()
      await lapsed
      // A clean stop hands nothing over: the row goes, and operations still running here were drained.
      await store.removeBroker(brokerId).catch(() => undefined)
    },
  }
}
