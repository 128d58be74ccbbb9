import {useEffect, useRef, useState} from 'react'

import type {ChangeEvent, HostView, InstanceView} from '../../core/admin.js'
import {errorMessage} from '../../core/errors.js'
import type {TopClient} from './client.js'
import {pause} from '../../core/pause.js'

export const HISTORY = 24
/** Change events the events view keeps, newest first. */
export const EVENTS_KEPT = 500

/** Hosts and instances (without CPU/memory) fetched before the screen mounts: its first frame shows them. */
export interface FirstLook {
  hosts: HostView[]
  instances: InstanceView[]
}

export interface TopData {
  hosts: HostView[]
  instances: InstanceView[]
  /** Recent CPU samples per instance, oldest first, for the sparklines. */
  cpuHistory: ReadonlyMap<string, number[]>
  loading: boolean
  error: string | null
  /** Whether the event stream is connected (updates arrive without polling). */
  live: boolean
  /** The event stream has neither opened nor failed yet. */
  connecting: boolean
  /** The rows are the last ones seen, not what runs now: the broker stopped answering. */
  stale: boolean
  /** The broker's change events since the screen started, newest first. */
  events: ChangeEvent[]
  /**
   * When each host last beat (epoch ms) as of the broker's last answer, kept in place without a re-render:
   * while the rows are stale their beat age counts on from it.
   */
  beatsAt?: ReadonlyMap<string, number>
}

/**
 * Hosts and instances, refetched when the broker's event stream reports a
 * change (coalesced) and sampled for CPU/memory every `statsIntervalMs`.
 * Nothing re-renders while nothing changes.
 */
export function useTopData(
  client: TopClient,
  options: {statsIntervalMs: number; debounceMs?: number; initial?: FirstLook},
): TopData {
  const [data, setData] = useState<TopData>(() => ({
    hosts: options.initial?.hosts ?? [],
    instances: options.initial?.instances ?? [],
    cpuHistory: new Map(),
    loading: !options.initial,
    error: null,
    live: false,
    connecting: true,
    stale: false,
    events: [],
  }))
  const last = useRef<{key: string}>({key: ''})
  // Read once, by the first effect: a later render's `initial` is old news.
  const initial = useRef(options.initial)
  const beatsAt = useRef(new Map<string, number>())

  useEffect(() => {
    const abort = new AbortController()
    let inFlight: Promise<void> | undefined
    let again = false
    let debounce: ReturnType<typeof setTimeout> | undefined

    const refresh = async (withStats: boolean): Promise<void> => {
      if (inFlight) {
        again = true
        return inFlight
      }
      inFlight = (async () => {
        try {
          const [hosts, instances] = await Promise.all([client.hosts(), client.instances({stats: withStats})])
          if (abort.signal.aborted) return
          const answered = Date.now()
          beatsAt.current = new Map(hosts.map((h) => [h.id, answered - h.heartbeatAgeMs]))
          const key = JSON.stringify([
            hosts.map((h) => [h.id, h.status, h.facts, Math.round(h.heartbeatAgeMs / 5000)]),
            instances,
          ])
          setData((prev) => {
            const previous = new Map(prev.instances.map((i) => [i.id, i]))
            const merged = withStats
              ? instances
              : instances.map((i) => ({...i, stats: i.stats ?? previous.get(i.id)?.stats ?? null}))
            let cpuHistory = prev.cpuHistory
            // A sample equal to the last one (to 0.1 %) adds nothing to see: no new frame for it.
            const sample = (i: InstanceView) => Math.round((i.stats?.cpuPercent ?? 0) * 10) / 10
            if (
              withStats &&
              (merged.length !== prev.cpuHistory.size ||
                merged.some((i) => prev.cpuHistory.get(i.id)?.at(-1) !== sample(i)))
            ) {
              const next = new Map<string, number[]>()
              for (const i of merged) next.set(i.id, [...(prev.cpuHistory.get(i.id) ?? []), sample(i)].slice(-HISTORY))
              cpuHistory = next
            }
            if (
              key === last.current.key &&
              !prev.loading &&
              prev.error === null &&
              !prev.stale &&
              cpuHistory === prev.cpuHistory
            )
              return prev
            last.current.key = key
            return {...prev, hosts, instances: merged, cpuHistory, loading: false, error: null, stale: false}
          })
        } catch (error) {
          if (!abort.signal.aborted)
            setData((prev) =>
              prev.error === errorMessage(error) && prev.stale
                ? prev
                : {
                    ...prev,
                    loading: false,
                    error: errorMessage(error),
                    stale: prev.instances.length > 0 || prev.hosts.length > 0,
                  },
            )
        }
      })()
      await inFlight
      inFlight = undefined
      if (again && !abort.signal.aborted) {
        again = false
        await refresh(false)
      }
    }

    // Rows first, CPU/memory right after: a Docker stats sample takes a second or two, the list a few ms.
    // Rows the command fetched while the screen's code loaded are already drawn: straight to the sample.
    const first = initial.current
    initial.current = undefined
    if (first) void refresh(true)
    else void refresh(false).then(() => refresh(true))
    // The events view opens with what the broker saw before top started, after what arrived since.
    void client
      .recentEvents?.(EVENTS_KEPT)
      .then((recent) => {
        if (abort.signal.aborted || recent.length === 0) return
        const key = (e: ChangeEvent) => `${e.kind}|${e.id}|${e.action}|${e.at}`
        setData((prev) => {
          const seen = new Set(prev.events.map(key))
          const before = recent.filter((e) => !seen.has(key(e))).reverse()
          return {...prev, events: [...prev.events, ...before].slice(0, EVENTS_KEPT)}
        })
      })
      .catch(() => undefined)
    const tick = setInterval(() => void refresh(true), options.statsIntervalMs)

    let dropped = false
    const arrived: ChangeEvent[] = []
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          const connected = () => setData((prev) => (prev.live ? prev : {...prev, live: true, connecting: false}))
          // Back after an outage: what changed meanwhile came as no event, so fetch it once.
          const reconnected = () => {
            connected()
            if (dropped) void refresh(false)
          }
          for await (const event of client.events(abort.signal, reconnected)) {
            connected()
            arrived.unshift(event)
            clearTimeout(debounce)
            debounce = setTimeout(() => {
              // One frame for a burst of events: they join the list when the refetch they caused does.
              const batch = arrived.splice(0)
              setData((prev) => ({...prev, events: [...batch, ...prev.events].slice(0, EVENTS_KEPT)}))
              void refresh(false)
            }, options.debounceMs ?? 150)
          }
        } catch {
          // The stream dropped (broker restarting): poll until it is back.
        }
        if (abort.signal.aborted) break
        dropped = true
        // What is shown may already be untrue: say so until a refresh succeeds.
        setData((prev) =>
          prev.live || prev.connecting || !prev.stale
            ? {...prev, live: false, connecting: false, stale: !prev.loading}
            : prev,
        )
        void refresh(false)
        await pause(2000, abort.signal)
      }
    })()

    return () => {
      abort.abort()
      clearInterval(tick)
      clearTimeout(debounce)
    }
  }, [client, options.statsIntervalMs, options.debounceMs])

  return {...data, beatsAt: beatsAt.current}
}
