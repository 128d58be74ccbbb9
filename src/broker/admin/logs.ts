import {Readable} from 'node:stream'

import {z} from 'zod'

import {DbrokerError, LogsUnavailableError, OsbError} from '../../core/errors.js'
import {unreachableHost} from '../reachability.js'
import {instanceRef} from './instances.js'
import type {AdminScope} from './scope.js'
import type {AdminOptions, AdminViews} from './views.js'

/** `10m`, `2h`, `30s`, `1d`, or unix seconds, or an ISO date -> unix seconds. */
export function parseSince(value: string, now = Date.now()): number {
  const duration = /^(\d+)(s|m|h|d)$/.exec(value)
  if (duration)
    return Math.floor(now / 1000) - Number(duration[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[duration[2] as 's']
  if (/^\d+$/.test(value)) return Number(value)
  const date = Date.parse(value)
  if (Number.isNaN(date)) throw new OsbError(400, `since ${value} is not a duration (10m, 2h), unix seconds or a date`)
  return Math.floor(date / 1000)
}

const logsQuery = z.object({
  tail: z.string().optional(),
  since: z.string().optional(),
  follow: z.string().optional(),
  timestamps: z.string().optional(),
})

/** An instance's container output, streamed from its host's agent; streams end when the broker closes. */
export function logRoutes(scope: AdminScope, options: AdminOptions, views: AdminViews): void {
  const streams = new Set<{end: () => void}>()
  scope.addHook('preClose', async () => {
    for (const stream of streams) stream.end()
  })

  scope.get('/instances/:ref/logs', {schema: {params: instanceRef, querystring: logsQuery}}, async (request, reply) => {
    const instance = await views.lookupContainer(request.params.ref)
    const agent = options.agentFor(await views.hostOf(instance))
    if (!agent.logs) throw new OsbError(501, `the agent of host ${instance.hostId} cannot stream logs`)
    const {tail, since, follow, timestamps} = request.query
    if (tail !== undefined && !/^\d+$/.test(tail)) throw new OsbError(400, `tail ${tail} is not a number of lines`)
    const abort = new AbortController()
    let chunks: AsyncIterable<string>
    try {
      chunks = await agent.logs(instance.target, {
        tail: tail === undefined ? undefined : Number(tail),
        since: since ? parseSince(since) : undefined,
        follow: follow === 'true',
        timestamps: timestamps === 'true',
        signal: abort.signal,
      })
    } catch (error) {
      if (error instanceof LogsUnavailableError) throw new OsbError(501, `${error.message}; ${error.hint}`)
      // An agent out of reach is the error handler's 503, naming the host and the direction.
      if (error instanceof DbrokerError && !unreachableHost(error)) throw new OsbError(502, error.message)
      throw error
    }
    const stream = {end: () => abort.abort()}
    streams.add(stream)
    request.raw.on('close', () => {
      abort.abort()
      streams.delete(stream)
    })
    return reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send(Readable.from(chunks))
  })
}
