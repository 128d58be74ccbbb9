import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import {z} from 'zod'

import {bearerToken, HOST_ID_PATTERN, hostTokenHash} from '../core/host-identity.js'
import type {Logger} from '../core/log.js'
import {cleartextProblem} from '../core/transport-security.js'
import type {Host, HostFacts} from '../core/types.js'
import {hostIdentities, type Store} from '../store/index.js'
import type {BrokerEvents} from './events.js'
import type {Provisioner} from './lifecycle/index.js'

export const AGENTS_PREFIX = '/agents/v1'

export interface AgentRoutesOptions {
  store: Store
  provisioner: Provisioner
  events: BrokerEvents
  /** Accept agents whose API is plain http off the loopback interface. */
  insecure?: boolean
  /** The broker's interval, told to agents that don't set their own. */
  keepaliveMs: number
  log: Logger
}

const id = z.string().regex(HOST_ID_PATTERN, 'use letters, digits, ".", "_" and "-" (at most 63)')
const facts = z
  .looseObject({engineVersion: z.string(), cpus: z.number(), memoryBytes: z.number(), containersRunning: z.number()})
  .nullable()
const containers = z.array(z.looseObject({instanceId: z.string(), status: z.string()})).default([])
/** Instances whose container the agent (re)made since its last beat. */
const applied = z.array(z.string()).default([])

/** A host name or an IP address: it goes into credentials, Docker port bindings and the operator's terminal. */
const address = z.string().regex(/^[A-Za-z0-9._:[\]-]{1,253}$/, 'use a host name or an IP address')

const registerBody = z.object({
  id,
  agentUrl: z.url({protocol: /^https?$/}),
  serviceAddress: address,
  bindAddress: address,
  portRange: z
    .tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)])
    .refine(([a, b]) => a <= b, 'MIN must not exceed MAX'),
  zone: z.string().min(1).nullable().default(null),
  labels: z.record(z.string(), z.string()).default({}),
  capacity: z
    .object({maxContainers: z.number().int().positive().nullable(), memoryBytes: z.number().positive().nullable()})
    .default({maxContainers: null, memoryBytes: null}),
  keepaliveMs: z.number().int().min(100).nullable().default(null),
  facts,
  containers,
  applied,
})

const heartbeatBody = z.object({id, facts, containers, applied})

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {})
  if (!result.success) {
    const message = result.error.issues
      .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
      .join('; ')
    throw Object.assign(new Error(message), {statusCode: 400})
  }
  return result.data
}

/** What of a host's registration redirects traffic: a change waits for the operator. */
const ADDRESSES = [
  ['agentUrl', 'agent URL'],
  ['serviceAddress', 'service address'],
  ['bindAddress', 'bind address'],
] as const

function addressChanges(
  before: Host,
  asked: {agentUrl: string; serviceAddress: string; bindAddress: string},
): string[] {
  return ADDRESSES.filter(([key]) => before[key] !== asked[key]).map(
    ([key, name]) => `${name} ${before[key] ?? '(none)'} -> ${asked[key]}`,
  )
}

/**
 * Where agents register and heartbeat. Every answer carries the host's
 * desired containers, so the agent converges on each beat; a heartbeat from a
 * host marked dead brings it back. Each request is authenticated as one host,
 * by that host's own token, and may speak only for that host.
 */
export function agentRoutes(options: AgentRoutesOptions) {
  const {store, provisioner, events} = options
  const hostOf = new WeakMap<FastifyRequest, string>()

  /** Refuses a body that names another host than the token's. */
  const sameHost = (request: FastifyRequest, reply: FastifyReply, bodyId: string): boolean => {
    const hostId = hostOf.get(request)!
    if (bodyId === hostId) return true
    options.log.warn(`the agent of host ${hostId} tried to speak for host ${bodyId}: refused`)
    void reply
      .code(403)
      .send({error: 'Forbidden', description: `this token is host ${hostId}'s; it cannot speak for host ${bodyId}`})
    return false
  }
  // The last reported status of each instance's container, to tell screens when one changes.
  const seen = new Map<string, string>()

  const report = async (hostId: string, all: Array<{instanceId: string; status: string}>) => {
    // A host reports on its own instances only: what it says of another host's is not news for anyone's screen.
    const placed = new Set((await store.listInstances({hostId})).map((i) => i.id))
    const states = all.filter((s) => placed.has(s.instanceId))
    // The report is the host's whole list: forget containers it no longer has, so the map holds only what exists.
    const reported = new Set(states.map((s) => `${hostId}/${s.instanceId}`))
    for (const key of seen.keys()) if (key.startsWith(`${hostId}/`) && !reported.has(key)) seen.delete(key)
    for (const state of states) {
      const key = `${hostId}/${state.instanceId}`
      if (seen.get(key) !== state.status) {
        if (seen.has(key))
          events.emitChange({
            kind: 'instance',
            id: state.instanceId,
            instanceId: state.instanceId,
            action: 'container',
            state: state.status,
          })
        seen.set(key, state.status)
      }
    }
  }

  // In the background: restoring users runs hooks in containers, and must not hold up the heartbeat.
  const restoreBindings = (hostId: string, instanceIds: string[]) => {
    for (const instanceId of instanceIds) void provisioner.replayBindings(instanceId, hostId)
  }

  // The installation tells the agent which of the engine's dbroker containers are this broker's.
  const answer = async (hostId: string) => ({
    keepaliveMs: options.keepaliveMs,
    installation: await store.installationId(),
    specs: await provisioner.desiredSpecs(hostId),
  })

  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (request, reply) => {
          const token = bearerToken(request.headers.authorization)
          const hostId = token && (await hostIdentities.hostOfToken(store, hostTokenHash(token)))
          if (!hostId)
            return reply.code(401).send({
              error: 'Unauthorized',
              description: "a host's token is required: the operator makes one with `dbroker hosts add HOST`",
            })
          hostOf.set(request, hostId)
        })

        scope.post('/register', async (request, reply) => {
          const body = parse(registerBody, request.body)
          if (!sameHost(request, reply, body.id)) return reply
          const cleartext = cleartextProblem(body.agentUrl)
          if (cleartext && !options.insecure) {
            return reply.code(400).send({
              error: 'InsecureAgentUrl',
              description: `the agent URL ${cleartext}; give the agent --tls-cert/--tls-key, or start the broker with --insecure`,
            })
          }
          const before = await store.getHost(body.id)
          const changes = before ? addressChanges(before, body) : []
          if (changes.length > 0) {
            const asked = {
              agentUrl: body.agentUrl,
              serviceAddress: body.serviceAddress,
              bindAddress: body.bindAddress,
              requestedAt: Date.now(),
            }
            if (await hostIdentities.recordPendingChange(store, body.id, asked)) {
              options.log.warn(
                `host ${body.id} asks to change its ${changes.join(', ')}: pending until the operator runs \`dbroker hosts approve ${body.id}\``,
              )
              events.emitChange({
                kind: 'host',
                id: body.id,
                action: 'pending',
                state: before!.status,
                description: changes.join(', '),
              })
            }
            return reply.code(409).send({
              error: 'ChangePending',
              description: `host ${body.id} is registered with another ${changes.join(', ')}; the change waits until the operator runs \`dbroker hosts approve ${body.id}\``,
            })
          }
          await store.upsertHost({
            id: body.id,
            serviceAddress: body.serviceAddress,
            bindAddress: body.bindAddress,
            agentUrl: body.agentUrl,
            portMin: body.portRange[0],
            portMax: body.portRange[1],
            zone: body.zone,
            labels: body.labels,
            facts: body.facts as HostFacts | null,
            capacity: body.capacity,
            keepaliveMs: body.keepaliveMs,
          })
          if (!before || before.status === 'dead') {
            options.log.info(
              `host ${body.id} ${before ? 'is back' : 'registered'} (agent ${body.agentUrl}, ports ${body.portRange.join('-')})`,
            )
            events.emitChange({kind: 'host', id: body.id, action: before ? 'alive' : 'register', state: 'alive'})
          }
          await report(body.id, body.containers)
          restoreBindings(body.id, body.applied)
          return answer(body.id)
        })

        scope.post('/heartbeat', async (request, reply) => {
          const body = parse(heartbeatBody, request.body)
          if (!sameHost(request, reply, body.id)) return reply
          const result = await store.heartbeatHost(body.id, body.facts as HostFacts | null)
          if (result === 'unknown')
            return reply
              .code(404)
              .send({error: 'UnknownHost', description: `host ${body.id} is not registered; register first`})
          if (result === 'revived') {
            options.log.info(`host ${body.id} is alive again`)
            events.emitChange({kind: 'host', id: body.id, action: 'alive', state: 'alive'})
          }
          await report(body.id, body.containers)
          restoreBindings(body.id, body.applied)
          return answer(body.id)
        })
      },
      {prefix: AGENTS_PREFIX},
    )
  }
}
