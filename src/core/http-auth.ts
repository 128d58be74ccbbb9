import {createHash, timingSafeEqual} from 'node:crypto'

import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {bearerToken, brokerCredentialChecker} from './host-identity.js'

/**
 * Every realm of dbroker's HTTP edge, each one hook on its own scope: the
 * OSB API and the admin API (basic auth), the agents' routes on the broker
 * (each host's bearer token), the agent's API (the brokers' credential for
 * that host). All refuse the same way: 401, a WWW-Authenticate challenge and
 * `{description}` saying what is wanted.
 */
export interface BasicCredentials {
  username: string
  password: string
}

export interface Realm {
  /** The WWW-Authenticate challenge. */
  challenge: string
  /** What the 401 body says is wanted. */
  description: string
}

export const REALMS = {
  osb: {challenge: 'Basic realm="dbroker"', description: 'missing or wrong credentials'},
  admin: {challenge: 'Basic realm="dbroker admin"', description: 'missing or wrong admin credentials'},
  agents: {
    challenge: 'Bearer realm="dbroker agents"',
    description: "a host's token is required: the operator makes one with `dbroker hosts add HOST`",
  },
  agentApi: {
    challenge: 'Bearer realm="dbroker agent"',
    description: "the brokers' credential for this host is required",
  },
} as const satisfies Record<string, Realm>

/** The one 401 of every realm. */
export function refuse(reply: FastifyReply, realm: Realm): FastifyReply {
  return reply.code(401).header('WWW-Authenticate', realm.challenge).send({description: realm.description})
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Checks an Authorization header against the expected user and password in
 * constant time: both sides are hashed to equal length before comparing.
 */
export function basicAuthChecker(expected: BasicCredentials): (header: string | undefined) => boolean {
  const want = digest(`${expected.username}:${expected.password}`)
  return (header) => {
    if (!header || !header.startsWith('Basic ')) return false
    const given = digest(Buffer.from(header.slice(6).trim(), 'base64').toString('utf8'))
    return timingSafeEqual(given, want)
  }
}

/**
 * A platform sends the same Authorization header on every request: one that
 * passed the constant-time check once is let through on a map lookup, saving a
 * hash per request. Only accepted headers are kept (a handful); any other
 * header, right or wrong, takes the full check.
 */
function rememberAccepted(check: (header: string | undefined) => boolean): (header: string | undefined) => boolean {
  const accepted = new Set<string>()
  return (header) => {
    if (header !== undefined && accepted.has(header)) return true
    const ok = check(header)
    if (ok && header !== undefined && accepted.size < 8) accepted.add(header)
    return ok
  }
}

/** A callback hook that lets through what `authorized` accepts: on the hot path (the catalog) it costs no promise. */
function requireHeader(scope: FastifyInstance, realm: Realm, authorized: (header: string | undefined) => boolean) {
  scope.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (authorized(request.headers.authorization)) return done()
    void refuse(reply, realm)
  })
}

/** Basic auth on this scope: the OSB realm or the admin realm, each with its own credentials. */
export function requireBasicAuth(scope: FastifyInstance, realm: Realm, credentials: BasicCredentials): void {
  requireHeader(scope, realm, rememberAccepted(basicAuthChecker(credentials)))
}

/** The agent's API: only the brokers' credential derived from this host's token, never a token itself. */
export function requireBrokerCredential(scope: FastifyInstance, hostToken: string): void {
  requireHeader(scope, REALMS.agentApi, brokerCredentialChecker(hostToken))
}

/**
 * The agents' routes on the broker: each request is one host's, by that
 * host's own token; `hostOfToken` says whose a token is. The host is handed
 * to the route through `hostOfRequest`.
 */
export function requireHostToken(
  scope: FastifyInstance,
  hostOfToken: (token: string) => Promise<string | undefined>,
): (request: FastifyRequest) => string {
  const hosts = new WeakMap<FastifyRequest, string>()
  scope.addHook('onRequest', async (request, reply) => {
    const token = bearerToken(request.headers.authorization)
    const hostId = token && (await hostOfToken(token))
    if (!hostId) return refuse(reply, REALMS.agents)
    hosts.set(request, hostId)
  })
  return (request) => hosts.get(request)!
}
