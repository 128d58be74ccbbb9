import {useEffect, useState} from 'react'

import {followLogs} from '../../client/log-stream.js'
import {errorMessage} from '../../core/errors.js'
import type {TopClient} from './client.js'
import {screenText} from './log-text.js'

export const LOG_BUFFER_LINES = 5000
const FLUSH_MS = 100

export interface LogLine {
  /** Docker's RFC 3339 timestamp, when the engine gave one. */
  time: string | null
  text: string
}

export interface LogBuffer {
  lines: LogLine[]
  /** Lines dropped from the front to keep the buffer bounded. */
  dropped: number
  error: string | null
  ended: boolean
  /** Why the stream stopped while it reconnects (broker restarting); null while following. */
  interrupted?: string | null
}

const STAMP = /^(\d{4}-\d\d-\d\dT\S+Z) (.*)$/

export function parseLogLine(raw: string): LogLine {
  const match = STAMP.exec(raw)
  return {time: match ? match[1] : null, text: screenText(match ? match[2] : raw)}
}

/** Appends lines to a buffer of at most `max` lines; returns how many fell off the front. */
export function appendBounded(
  lines: LogLine[],
  more: LogLine[],
  max = LOG_BUFFER_LINES,
): {lines: LogLine[]; dropped: number} {
  const all = lines.concat(more)
  const dropped = Math.max(0, all.length - max)
  return {lines: dropped ? all.slice(dropped) : all, dropped}
}

/** Follows an instance's logs into a bounded buffer, flushing to the screen at most 10 times a second. */
export function useLogBuffer(
  client: TopClient,
  ref: string | null,
  options: {tail?: number; max?: number; retryDelayMs?: number} = {},
): LogBuffer {
  const [buffer, setBuffer] = useState<LogBuffer>({lines: [], dropped: 0, error: null, ended: false})
  useEffect(() => {
    setBuffer({lines: [], dropped: 0, error: null, ended: false})
    if (!ref) return
    const abort = new AbortController()
    let pending: LogLine[] = []
    let partial = ''
    const flush = () => {
      if (pending.length === 0) return
      const more = pending
      pending = []
      setBuffer((prev) => {
        const next = appendBounded(prev.lines, more, options.max)
        return {...prev, lines: next.lines, dropped: prev.dropped + next.dropped}
      })
    }
    const timer = setInterval(flush, FLUSH_MS)
    void (async () => {
      try {
        for await (const event of followLogs(client, ref, {
          tail: options.tail ?? 500,
          timestamps: true,
          signal: abort.signal,
          retry: true,
          retryDelayMs: options.retryDelayMs,
        })) {
          if (event.kind === 'text') {
            const parts = (partial + event.text).split('\n')
            partial = parts.pop() ?? ''
            for (const part of parts) pending.push(parseLogLine(part))
            continue
          }
          if (partial) pending.push(parseLogLine(partial))
          partial = ''
          flush()
          const interrupted = event.kind === 'interrupted' ? event.reason : null
          if (!abort.signal.aborted) setBuffer((prev) => ({...prev, interrupted}))
        }
      } catch (error) {
        if (!abort.signal.aborted) setBuffer((prev) => ({...prev, error: errorMessage(error), ended: true}))
      }
    })()
    return () => {
      abort.abort()
      clearInterval(timer)
    }
  }, [client, ref, options.tail, options.max, options.retryDelayMs])
  return buffer
}
