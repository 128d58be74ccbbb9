import {BrokerRequestError} from '../../client/broker-client.js'
import type {ChangeEvent, InstanceView} from '../../core/admin.js'
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
 * The last `limit` changes that `shown` keeps (it sees every change once, in order), then
 * the live ones it keeps, until the signal aborts. Each
 * (re)connection opens the stream first and then reads the broker's recent
 * changes, so nothing falls between the two and nothing is given twice. With
 * `retry` a broken stream is reopened; without, it ends after `interrupted`.
 * A refusal (wrong credentials) is thrown, and so is a broker never reached.
 */
export async function* followEvents(
  source: EventSource,
  options: {
    limit: number
    signal?: AbortSignal
    retry: boolean
    retryDelayMs?: number
    shown?: (event: ChangeEvent) => boolean
  },
): AsyncIterable<EventStreamItem> {
  const {signal, shown = () => true} = options
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
      // The first time, all the broker keeps: `limit` counts the changes shown, not the ones before the filter.
      const recent = await source.recentEvents(connected || options.shown ? undefined : options.limit)
      const first = !connected
      connected = true
      if (interrupted) yield {kind: 'resumed'}
      interrupted = false
      const recentKeys = new Set(recent.map(keyOf))
      const backlog: ChangeEvent[] = []
      for (const event of recent.filter(fresh)) {
        given(event)
        if (shown(event)) backlog.push(event)
      }
      for (const event of first ? (options.limit === 0 ? [] : backlog.slice(-options.limit)) : backlog)
        yield {kind: 'event', event}
      for (let item = await next; !item.done; item = await next) {
        if (!recentKeys.has(keyOf(item.value)) && fresh(item.value)) {
          given(item.value)
          if (shown(item.value)) yield {kind: 'event', event: item.value}
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

/** The last `limit` past changes that `shown` keeps: it sees every change the broker kept, oldest first. */
export async function recentShown(
  source: EventSource,
  limit: number,
  shown?: (event: ChangeEvent) => boolean,
): Promise<ChangeEvent[]> {
  if (!shown) return source.recentEvents(limit)
  const kept = (await source.recentEvents()).filter(shown)
  return limit === 0 ? [] : kept.slice(-limit)
}

/**
 * Instance names by id for event lines: read once, and again (once per id) when a change
 * names an instance not seen yet, such as one provisioned while following.
 */
export async function instanceNames(source: {instances(): Promise<InstanceView[]>}) {
  const names = new Map<string, string | null>()
  const asked = new Set<string>()
  const read = async () => {
    for (const i of await source.instances().catch(() => [])) names.set(i.id, i.name)
  }
  await read()
  return {
    nameOf: (id: string) => names.get(id),
    async learn(event: ChangeEvent): Promise<void> {
      const id = event.instanceId ?? (event.kind === 'instance' ? event.id : undefined)
      if (!id || names.has(id) || asked.has(id)) return
      asked.add(id)
      await read()
    },
  }
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
