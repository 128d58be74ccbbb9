import {setTimeout as sleep} from 'node:timers/promises'

import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import type {Logger} from './log.js'

export interface LoginGuardOptions {
  log: Logger
  /** Failed logins one address may make within `windowMs`; beyond, its requests get 429 until the oldest ages out. */
  maxFailures?: number
  windowMs?: number
  /** Failures answered at once (typos); each further one waits `baseDelayMs` doubled per failure, up to `maxDelayMs`. */
  freeFailures?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** Lines about failed logins per window over all addresses; the rest are counted in one summary line. */
  maxLogLines?: number
  /** Addresses tracked at once; the oldest is forgotten first, so a spray from many addresses stays bounded. */
  maxClients?: number
}

/**
 * Which credentials a request's route asks for; routes outside these (healthz) and no route at all are never refused.
 * The route the router matched, not the raw URL: the router decodes the path, so `/%61dmin/...` is an admin route too.
 */
function realmOf(request: FastifyRequest): string | undefined {
  const url = request.routeOptions.url
  if (url === undefined) return undefined
  if (url.startsWith('/v2/')) return 'OSB'
  if (url.startsWith('/admin/')) return 'admin'
  if (url.startsWith('/agents/')) return 'agent registration'
  if (url.startsWith('/v1/')) return 'agent'
  return undefined
}

interface Client {
  /** Times of its failed logins inside the window, oldest first. */
  failures: number[]
  /** When its last line was logged: one line per address per window. */
  loggedAt: number
  blockedLogged: boolean
}

/**
 * Failed logins of every realm on one app (OSB, admin, agent): each is
 * counted per client address and logged at most once per address and
 * window; after a few the 401 comes slower, and beyond `maxFailures` the
 * address gets 429 for every authenticated route until the window passes,
 * whatever credentials it sends, so a guess can't be confirmed by a 200.
 */
export function guardLogins(app: FastifyInstance, options: LoginGuardOptions): void {
  const maxFailures = options.maxFailures ?? 10
  const windowMs = options.windowMs ?? 60_000
  const freeFailures = options.freeFailures ?? 3
  const baseDelayMs = options.baseDelayMs ?? 250
  const maxDelayMs = options.maxDelayMs ?? 2000
  const maxLogLines = options.maxLogLines ?? 20
  const maxClients = options.maxClients ?? 10_000
  const clients = new Map<string, Client>()
  let lines = {windowStart: 0, count: 0, suppressed: 0}
  let summary: ReturnType<typeof setTimeout> | undefined

  const flushSummary = () => {
    summary = undefined
    if (lines.suppressed > 0)
      options.log.warn(`${lines.suppressed} more failed-login lines in the last ${windowMs / 1000} s were not logged`)
    lines = {windowStart: Date.now(), count: 0, suppressed: 0}
  }
  const warn = (line: string, now: number) => {
    if (now - lines.windowStart >= windowMs) flushSummary()
    if (lines.count++ < maxLogLines) return options.log.warn(line)
    lines.suppressed++
    summary ??= setTimeout(flushSummary, Math.max(0, lines.windowStart + windowMs - now)).unref()
  }

  const current = (ip: string, now: number): Client | undefined => {
    const client = clients.get(ip)
    if (!client) return undefined
    while (client.failures.length > 0 && client.failures[0] <= now - windowMs) client.failures.shift()
    if (client.failures.length === 0 && client.loggedAt <= now - windowMs) {
      clients.delete(ip)
      return undefined
    }
    return client
  }
  const retryAfter = (client: Client, now: number) =>
    Math.max(1, Math.ceil((client.failures[0] + windowMs - now) / 1000))
  const tooMany = (seconds: number) => ({
    description: `too many failed logins from this address: retry in ${seconds} s`,
  })

  // Callback hooks with a fast path: with no failed login lately (and for every answer but a 401) they cost nothing per request.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (clients.size === 0 || !realmOf(request)) return done()
    const now = Date.now()
    const client = current(request.ip, now)
    if (!client || client.failures.length < maxFailures) return done()
    const seconds = retryAfter(client, now)
    void reply.code(429).header('Retry-After', String(seconds)).send(tooMany(seconds))
  })

  app.addHook(
    'onSend',
    (
      request: FastifyRequest,
      reply: FastifyReply,
      payload: unknown,
      done: (error: Error | null, payload?: unknown) => void,
    ) => {
      if (reply.statusCode !== 401) return done(null, payload)
      counted(request, reply, payload).then((out) => done(null, out), done)
    },
  )

  const counted = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const realm = realmOf(request)
    // A request without credentials guesses nothing: clients that wait for the challenge before sending them aren't counted.
    if (!realm || !request.headers.authorization) return payload
    const now = Date.now()
    let client = current(request.ip, now)
    if (!client) {
      if (clients.size >= maxClients) clients.delete(clients.keys().next().value!)
      client = {failures: [], loggedAt: 0, blockedLogged: false}
      clients.set(request.ip, client)
    }
    client.failures.push(now)
    const count = client.failures.length
    if (client.loggedAt <= now - windowMs) {
      client.loggedAt = now
      client.blockedLogged = false
      warn(
        `failed login to the ${realm} API from ${request.ip} (${request.method} ${request.url.split('?')[0].slice(0, 200)}); more from this address within ${windowMs / 1000} s are counted, not logged`,
        now,
      )
    }
    if (count >= maxFailures && !client.blockedLogged) {
      client.blockedLogged = true
      warn(
        `${count} failed logins from ${request.ip} within ${windowMs / 1000} s: its requests get 429 for ${retryAfter(client, now)} s`,
        now,
      )
    }
    if (count > maxFailures) {
      // Concurrent guesses that all passed the check above: they too get no answer about their credentials.
      const seconds = retryAfter(client, now)
      reply.removeHeader('www-authenticate')
      void reply.code(429).header('Retry-After', String(seconds))
      return JSON.stringify(tooMany(seconds))
    }
    if (count > freeFailures) await sleep(Math.min(maxDelayMs, baseDelayMs * 2 ** (count - freeFailures - 1)))
    return payload
  }
}
