import type {HostView} from '../core/admin.js'
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
  /** With these two, a stream that ends says so when the instance's host is why (the broker's client has them). */
  instance?(ref: string): Promise<{hostId: string}>
  hosts?(): Promise<HostView[]>
}

/** `; host h1 is unreachable (out): could not connect ...` when the instance's host is not alive, else nothing. */
async function hostTrouble(source: LogSource, ref: string): Promise<string> {
  if (!source.instance || !source.hosts) return ''
  try {
    const {hostId} = await source.instance(ref)
    const host = (await source.hosts()).find((h) => h.id === hostId)
    if (!host || host.status === 'alive') return ''
    return `; host ${host.id} is ${hostState(host)}${host.reachability ? `: ${host.reachability.reason}` : ''}`
  } catch {
    // The broker itself is out of reach: the stream's own reason says enough.
    return ''
  }
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
    let reason = 'the broker ended the log stream (restarting or stopped, or the container stopped)'
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
    reason += await hostTrouble(source, ref)
    yield {kind: 'interrupted', reason}
    if (!options.retry) return
    interrupted = true
    query = {since: String(Math.floor(Date.now() / 1000))}
    await pause(options.retryDelayMs ?? 1000, options.signal)
  }
}
