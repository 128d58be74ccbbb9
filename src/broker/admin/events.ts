import {PassThrough} from 'node:stream'

import type {ChangeEvent} from '../../core/admin.js'
import type {AdminScope} from './scope.js'
import type {AdminOptions, AdminViews} from './views.js'

const SSE_PING_MS = 15_000
const SSE_MAX_BUFFER = 1024 * 1024

/** A server-sent event stream of every change, with the hosts' changes looked for while someone listens. */
export function eventRoutes(scope: AdminScope, options: AdminOptions, views: AdminViews): void {
  const {store, events} = options
  const streams = new Set<{end: () => void}>()
  scope.addHook('preClose', async () => {
    for (const stream of streams) stream.end()
  })

  /** Host changes have no request behind them: while someone listens, compare each keepalive. */
  function watchHosts(): () => void {
    const seen = new Map<string, string>()
    const look = async () => {
      const now = Date.now()
      for (const host of await store.listHosts()) {
        const view = views.hostView(host, 0, now)
        // The facts' age changes with every beat: a host whose facts only grew older did not change.
        const engine = view.facts?.engine && {status: view.facts.engine.status, error: view.facts.engine.error}
        const key = `${view.status} ${view.drained} ${JSON.stringify(view.facts && {...view.facts, engine})}`
        const before = seen.get(host.id)
        seen.set(host.id, key)
        if (before !== undefined && before !== key)
          events.emitChange({kind: 'host', id: host.id, action: 'update', state: view.status})
      }
    }
    void look().catch(() => undefined)
    const timer = setInterval(() => void look().catch(() => undefined), options.keepaliveMs)
    timer.unref()
    return () => clearInterval(timer)
  }
  let listeners = 0
  let stopWatching: (() => void) | undefined

  scope.get('/events', async (request, reply) => {
    const out = new PassThrough()
    // A client that stops reading (a suspended `dbroker top`) is dropped, not buffered for without end.
    const write = (text: string) => {
      out.write(text)
      if (out.writableLength > SSE_MAX_BUFFER) stream.end()
    }
    const send = (event: ChangeEvent) => write(`event: change\ndata: ${JSON.stringify(event)}\n\n`)
    const ping = setInterval(() => write(': ping\n\n'), SSE_PING_MS)
    events.on('change', send)
    if (listeners++ === 0) stopWatching = watchHosts()
    const stream = {
      end: () => {
        if (!streams.delete(stream)) return
        clearInterval(ping)
        events.off('change', send)
        if (--listeners === 0) stopWatching?.()
        out.end()
      },
    }
    streams.add(stream)
    request.raw.on('close', stream.end)
    out.write(': connected\n\n')
    return reply
      .type('text/event-stream')
      .header('Cache-Control', 'no-store')
      .header('X-Accel-Buffering', 'no')
      .send(out)
  })
}
