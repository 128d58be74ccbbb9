import {BrokerRequestError} from './broker-client.js'

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
}

export type LogStreamEvent =
  | {kind: 'text'; text: string}
  /** The stream ended or broke without being asked to (broker restarting or gone, container stopped). */
  | {kind: 'interrupted'; reason: string}
  | {kind: 'resumed'}

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })

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
    yield {kind: 'interrupted', reason}
    if (!options.retry) return
    interrupted = true
    query = {since: String(Math.floor(Date.now() / 1000))}
    await pause(options.retryDelayMs ?? 1000, options.signal)
  }
}
