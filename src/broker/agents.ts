import type {FastifyInstance, FastifyReply} from 'fastify'

import {hostTokenHash} from '../core/host-identity.js'
import {requireHostToken} from '../core/http-auth.js'
import type {Logger} from '../core/log.js'
import {
  AGENTS_PREFIX,
  AGENTS_ROUTES,
  type AgentAnswer,
  heartbeatBody,
  registerBody,
  type RegisterBody,
} from '../core/protocol.js'
import {cleartextProblem} from '../core/transport-security.js'
import type {Host} from '../core/types.js'
import {withZod} from '../core/zod-routes.js'
import {hostIdentities, type Store} from '../store/index.js'
import {containerReports} from './container-reports.js'
import type {BrokerEvents} from './events.js'
import type {Provisioner} from './lifecycle/index.js'

export {AGENTS_PREFIX}

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

/** What of a host's registration redirects traffic: a change waits for the operator. */
const ADDRESSES = [
  ['agentUrl', 'agent URL'],
  ['serviceAddress', 'service address'],
  ['bindAddress', 'bind address'],
] as const

function addressChanges(before: Host, asked: RegisterBody): string[] {
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
  /** Refuses a body that names another host than the token's. */
  const sameHost = (hostId: string, reply: FastifyReply, bodyId: string): boolean => {
    if (bodyId === hostId) return true
    options.log.warn(`the agent of host ${hostId} tried to speak for host ${bodyId}: refused`)
    void reply
      .code(403)
      .send({error: 'Forbidden', description: `this token is host ${hostId}'s; it cannot speak for host ${bodyId}`})
    return false
  }
  const report = containerReports({store, events})

  // In the background: restoring users runs hooks in containers, and must not hold up the heartbeat. A host
  // decides what `applied` says: each instance is replayed once however often it is named, and a beat that names
  // one while its replay runs asks for one more pass after it, never a pile of them.
  const replaying = new Map<string, {again: boolean}>()
  const restoreBindings = (hostId: string, instanceIds: string[]) => {
    for (const instanceId of new Set(instanceIds)) {
      const running = replaying.get(instanceId)
      if (running) {
        running.again = true
        continue
      }
      const entry = {again: false}
      replaying.set(instanceId, entry)
      void (async () => {
        try {
          do {
            entry.again = false
            await provisioner.replayBindings(instanceId, hostId).catch(() => 0)
          } while (entry.again)
        } finally {
          replaying.delete(instanceId)
        }
      })()
    }
  }

  /** A dead host heard from again: once (the store's compare-and-set picks one beat), with how long it was silent. */
  const announceBack = (hostId: string, silentMs: number | undefined, how = 'heartbeats again') => {
    const silent = silentMs === undefined ? '' : ` after ${Math.round(silentMs / 1000)} s without heartbeats`
    options.log.info(`host ${hostId} is alive again${silent} (agent -> broker: ${how})`)
    events.emitChange({kind: 'host', id: hostId, action: 'alive', state: 'alive', description: `${how}${silent}`})
  }

  // The installation tells the agent which of the engine's dbroker containers are this broker's.
  const answer = async (hostId: string): Promise<AgentAnswer> => ({
    keepaliveMs: options.keepaliveMs,
    installation: await store.installationId(),
    specs: await provisioner.desiredSpecs(hostId),
    registry: await store.registries.desired(hostId),
  })

  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        const hostOf = requireHostToken(scope, (token) => hostIdentities.hostOfToken(store, hostTokenHash(token)))
        const routes = withZod(scope)

        routes.post(AGENTS_ROUTES.register, {schema: {body: registerBody}}, async (request, reply) => {
          const {body} = request
          if (!sameHost(hostOf(request), reply, body.id)) return reply
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
            facts: body.facts,
            capacity: body.capacity,
            keepaliveMs: body.keepaliveMs,
          })
          if (!before) {
            options.log.info(`host ${body.id} registered (agent ${body.agentUrl}, ports ${body.portRange.join('-')})`)
            events.emitChange({kind: 'host', id: body.id, action: 'register', state: 'alive'})
          } else if (before.status === 'dead')
            announceBack(body.id, Date.now() - before.lastHeartbeat, 'registered again')
          await report(body.id, body.containers)
          restoreBindings(body.id, body.applied)
          return answer(body.id)
        })

        routes.post(AGENTS_ROUTES.heartbeat, {schema: {body: heartbeatBody}}, async (request, reply) => {
          const {body} = request
          if (!sameHost(hostOf(request), reply, body.id)) return reply
          let silentMs: number | undefined
          const result = await store.heartbeatHost(body.id, body.facts, Date.now(), (ms) => (silentMs = ms))
          if (result === 'unknown')
            return reply
              .code(404)
              .send({error: 'UnknownHost', description: `host ${body.id} is not registered; register first`})
          if (result === 'revived') announceBack(body.id, silentMs)
          await report(body.id, body.containers)
          restoreBindings(body.id, body.applied)
          return answer(body.id)
        })
      },
      {prefix: AGENTS_PREFIX},
    )
  }
}
