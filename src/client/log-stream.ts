import type {ContainerView, HostView} from '../core/admin.js'
import {hostState} from '../core/format.js'
import {BrokerRequestError} from './broker-client.js'
import {pause} from '../core/pause.js'

export interface LogSource {
  logs(
    ref: string,
    options: {
      tail?: number
      since?: string
      follow?: boolean
      timestamps?: boolean
      signal?: AbortSignal
      onOpen?: () => void
    },
  ): AsyncIterable<string>
  /** With these two, a stream that ends says why: the instance's host or container (the broker's client has them). */
  instance?(ref: string): Promise<{hostId: string; container?: ContainerView | null}>
  hosts?(): Promise<HostView[]>
}

const clock = (iso: string) => new Date(iso).toISOString().slice(11, 19)

/**
 * Why a followed stream that began at `since` ended, as far as the broker says: the instance's host is not alive,
 * its container stopped or restarted since, or (the broker answering nothing) the broker itself; undefined: none of these.
 */
async function whyEnded(source: LogSource, ref: string, since: number): Promise<string | undefined> {
  if (!source.instance || !source.hosts) return undefined
  let instance: Awaited<ReturnType<NonNullable<LogSource['instance']>>>
  try {
    instance = await source.instance(ref)
  } catch {
    return 'the broker is not answering (restarting or stopped)'
  }
  try {
    const host = (await source.hosts()).find((h) => h.id === instance.hostId)
    if (host && host.status !== 'alive')
      return `host ${host.id} is ${hostState(host)}${host.reachability ? `: ${host.reachability.reason}` : ''}`
  } catch {
    return 'the broker is not answering (restarting or stopped)'
  }
  const container = instance.container
  if (!container) return undefined
  const exit = container.lastExitCode === undefined ? '' : `, last exit code ${container.lastExitCode}`
  if (container.status !== 'running') return `the container is ${container.status}${exit}`
  if (container.startedAt && Date.parse(container.startedAt) >= since - 1000)
    return `the container restarted at ${clock(container.startedAt)}${exit}`
  return undefined
}

export type LogStreamEvent =
  | {kind: 'text'; text: string}
  /** The stream ended or broke without being asked to (broker restarting or gone, container stopped). */
  | {kind: 'interrupted'; reason: string}
  | {kind: 'resumed'}

/**
 * Follows an instance's logs and says so when the stream ends on its own;
 * with `retry` it reconnects (from the second it broke) until the signal aborts.
 * A refusal (unknown instance, wrong credentials) is thrown: retrying can't fix it.
 */
export async function* followLogs(
  source: LogSource,
  ref: string,
  options: {
    tail?: number
    since?: string
    timestamps?: boolean
    signal?: AbortSignal
    retry: boolean
    retryDelayMs?: number
  },
): AsyncIterable<LogStreamEvent> {
  let query: {tail?: number; since?: string} = {tail: options.tail, since: options.since}
  let interrupted = false
  while (!options.signal?.aborted) {
    let reason: string | undefined
    const began = Date.now()
    try {
      let markOpen = () => {}
      const open = new Promise<void>((resolve) => (markOpen = resolve))
      const chunks = source
        .logs(ref, {...query, follow: true, timestamps: options.timestamps, signal: options.signal, onOpen: markOpen})
        [Symbol.asyncIterator]()
      let next = chunks.next()
      if (interrupted) {
        await Promise.race([next, open])
        yield {kind: 'resumed'}
      }
      for (let chunk = await next; !chunk.done; chunk = await next) {
        yield {kind: 'text', text: chunk.value}
        next = chunks.next()
      }
    } catch (error) {
      if (options.signal?.aborted) return
      if (error instanceof BrokerRequestError && error.status < 500) throw error
      reason = (error as Error).message
    }
    if (options.signal?.aborted) return
    const why = await whyEnded(source, ref, began)
    const said = reason ?? 'the broker ended it (restarting or stopping)'
    yield {kind: 'interrupted', reason: why ? (reason ? `${reason}; ${why}` : why) : said}
    if (!options.retry) return
    interrupted = true
    query = {since: String(Math.floor(Date.now() / 1000))}
    await pause(options.retryDelayMs ?? 1000, options.signal)
  }
}
