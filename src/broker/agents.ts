import type {FastifyInstance} from 'fastify'
import {z} from 'zod'

import {bearerChecker} from '../core/http.js'
import type {Logger} from '../core/log.js'
import type {HostFacts} from '../core/types.js'
import type {Store} from '../store/index.js'
import type {BrokerEvents} from './events.js'
import type {Provisioner} from './lifecycle/index.js'

export const AGENTS_PREFIX = '/agents/v1'

export interface AgentRoutesOptions {
  store: Store
  provisioner: Provisioner
  events: BrokerEvents
  token: string
  /** The broker's interval, told to agents that don't set their own. */
  keepaliveMs: number
  log: Logger
}

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'use letters, digits, ".", "_" and "-" (at most 63)')
const facts = z.looseObject({engineVersion: z.string(), cpus: z.number(), memoryBytes: z.number(), containersRunning: z.number()}).nullable()
const containers = z.array(z.looseObject({instanceId: z.string(), status: z.string()})).default([])
/** Instances whose container the agent (re)made since its last beat. */
const applied = z.array(z.string()).default([])

const registerBody = z.object({
  id,
  agentUrl: z.url(),
  serviceAddress: z.string().min(1),
  bindAddress: z.string().min(1),
  portRange: z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)]).refine(([a, b]) => a <= b, 'MIN must not exceed MAX'),
  zone: z.string().min(1).nullable().default(null),
  labels: z.record(z.string(), z.string()).default({}),
  capacity: z.object({maxContainers: z.number().int().positive().nullable(), memoryBytes: z.number().positive().nullable()}).default({maxContainers: null, memoryBytes: null}),
  keepaliveMs: z.number().int().min(100).nullable().default(null),
  facts,
  containers,
  applied,
})

const heartbeatBody = z.object({id, facts, containers, applied})

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {})
  if (!result.success) {
    const message = result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')
    throw Object.assign(new Error(message), {statusCode: 400})
  }
  return result.data
}

/**
 * Where agents register and heartbeat. Every answer carries the host's
 * desired containers, so the agent converges on each beat; a heartbeat from a
 * host marked dead brings it back.
 */
export function agentRoutes(options: AgentRoutesOptions) {
  const {store, provisioner, events} = options
  const authorized = bearerChecker(options.token)
  // The last reported status of each instance's container, to tell screens when one changes.
  const seen = new Map<string, string>()

  const report = (hostId: string, states: Array<{instanceId: string; status: string}>) => {
    // The report is the host's whole list: forget containers it no longer has, so the map holds only what exists.
    const reported = new Set(states.map((s) => `${hostId}/${s.instanceId}`))
    for (const key of seen.keys()) if (key.startsWith(`${hostId}/`) && !reported.has(key)) seen.delete(key)
    for (const state of states) {
      const key = `${hostId}/${state.instanceId}`
      if (seen.get(key) !== state.status) {
        if (seen.has(key)) events.emitChange({kind: 'instance', id: state.instanceId, instanceId: state.instanceId, action: 'container', state: state.status})
        seen.set(key, state.status)
      }
    }
  }

  // In the background: restoring users runs hooks in containers, and must not hold up the heartbeat.
  const restoreBindings = (hostId: string, instanceIds: string[]) => {
    for (const instanceId of instanceIds) void provisioner.replayBindings(instanceId, hostId)
  }

  const answer = async (hostId: string) => ({keepaliveMs: options.keepaliveMs, specs: await provisioner.desiredSpecs(hostId)})

  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (request, reply) => {
          if (!authorized(request.headers.authorization)) return reply.code(401).send({error: 'Unauthorized', description: 'a valid agent token is required'})
        })

        scope.post('/register', async (request) => {
          const body = parse(registerBody, request.body)
          const before = await store.getHost(body.id)
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
            options.log.info(`host ${body.id} ${before ? 'is back' : 'registered'} (agent ${body.agentUrl}, ports ${body.portRange.join('-')})`)
            events.emitChange({kind: 'host', id: body.id, action: before ? 'alive' : 'register', state: 'alive'})
          }
          report(body.id, body.containers)
          restoreBindings(body.id, body.applied)
          return answer(body.id)
        })

        scope.post('/heartbeat', async (request, reply) => {
          const body = parse(heartbeatBody, request.body)
          const result = await store.heartbeatHost(body.id, body.facts as HostFacts | null)
          if (result === 'unknown') return reply.code(404).send({error: 'UnknownHost', description: `host ${body.id} is not registered; register first`})
          if (result === 'revived') {
            options.log.info(`host ${body.id} is alive again`)
            events.emitChange({kind: 'host', id: body.id, action: 'alive', state: 'alive'})
          }
          report(body.id, body.containers)
          restoreBindings(body.id, body.applied)
          return answer(body.id)
        })
      },
      {prefix: AGENTS_PREFIX},
    )
  }
}
