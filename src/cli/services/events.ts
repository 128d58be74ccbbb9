import {BrokerRequestError} from '../../client/broker-client.js'
import type {ChangeEvent} from '../../core/admin.js'
import {pause} from '../../core/pause.js'

/** What `dbroker events` reads of a broker: its recent changes and its live stream. */
export interface EventSource {
  recentEvents(limit?: number): Promise<ChangeEvent[]>
  events(signal?: AbortSignal, onOpen?: () => void): AsyncIterable<ChangeEvent>
}

export type EventStreamItem =
  | {kind: 'event'; event: ChangeEvent}
  /** The stream ended or broke without being asked to (broker restarting or gone). */
  | {kind: 'interrupted'; reason: string}
  | {kind: 'resumed'}

const keyOf = (event: ChangeEvent) => JSON.stringify(event)

/**
 * The last `limit` changes, then the live ones until the signal aborts. Each
 * (re)connection opens the stream first and then reads the broker's recent
 * changes, so nothing falls between the two and nothing is given twice. With
 * `retry` a broken stream is reopened; without, it ends after `interrupted`.
 * A refusal (wrong credentials) is thrown, and so is a broker never reached.
 */
export async function* followEvents(
  source: EventSource,
  options: {limit: number; signal?: AbortSignal; retry: boolean; retryDelayMs?: number},
): AsyncIterable<EventStreamItem> {
  const {signal} = options
  let lastAt = -Infinity
  let lastKeys = new Set<string>()
  let connected = false
  let interrupted = false
  const fresh = (event: ChangeEvent) => event.at > lastAt || (event.at === lastAt && !lastKeys.has(keyOf(event)))
  const given = (event: ChangeEvent) => {
    if (event.at > lastAt) lastKeys = new Set()
    lastAt = Math.max(lastAt, event.at)
    lastKeys.add(keyOf(event))
  }
  while (!signal?.aborted) {
    let reason = 'the broker ended the event stream (restarting or stopped)'
    try {
      let markOpen = () => {}
      const open = new Promise<void>((resolve) => (markOpen = resolve))
      const stream = source.events(signal, markOpen)[Symbol.asyncIterator]()
      let next = stream.next()
      await Promise.race([open, next])
      const recent = await source.recentEvents(connected ? undefined : options.limit)
      connected = true
      if (interrupted) yield {kind: 'resumed'}
      interrupted = false
      const recentKeys = new Set(recent.map(keyOf))
      for (const event of recent.filter(fresh)) {
        given(event)
        yield {kind: 'event', event}
      }
      for (let item = await next; !item.done; item = await next) {
        if (!recentKeys.has(keyOf(item.value)) && fresh(item.value)) {
          given(item.value)
          yield {kind: 'event', event: item.value}
        }
        next = stream.next()
      }
    } catch (error) {
      if (signal?.aborted) return
      if ((error instanceof BrokerRequestError && error.status < 500) || !connected) throw error
      reason = (error as Error).message
    }
    if (signal?.aborted) return
    if (!interrupted) yield {kind: 'interrupted', reason}
    interrupted = true
    if (!options.retry) return
    await pause(options.retryDelayMs ?? 1000, signal)
  }
}

const time = (at: number) => new Date(at).toISOString().replace('T', ' ').slice(0, 19)

/** As docker shows ids: a uuid by its first 8 characters (`dbroker show` takes the prefix). */
const short = (id: string) => id.replace(/([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '$1')

/** One change as a line: time (UTC), kind, id (short), action, new state, and the description when there is one. */
export function eventLine(event: ChangeEvent): string {
  const subject =
    event.instanceId && event.instanceId !== event.id
      ? `${short(event.id)} (of ${short(event.instanceId)})`
      : short(event.id)
  const state = event.state ? ` -> ${event.state}` : ''
  const description = event.description ? `: ${event.description}` : ''
  return `${time(event.at)} ${event.kind.padEnd(9)} ${subject} ${event.action}${state}${description}`
}

/**
 * For people: a host's `update` that says the state it already had (each
 * heartbeat while someone watches) is noise; NDJSON keeps every event.
 */
export function repeatedHostUpdates(): (event: ChangeEvent) => boolean {
  const lastState = new Map<string, string | undefined>()
  return (event) => {
    if (event.kind !== 'host') return false
    const repeated = event.action === 'update' && lastState.has(event.id) && lastState.get(event.id) === event.state
    lastState.set(event.id, event.state)
    return repeated
  }
}
