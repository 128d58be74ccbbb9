import {setTimeout as sleep} from 'node:timers/promises'

import Fastify, {type FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {buildAgentApi} from '../../src/agent/api.js'
import {type Heartbeats, startHeartbeats} from '../../src/agent/heartbeat.js'
import {agentRoutes} from '../../src/broker/agents.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog, testRegistration} from '../helpers/fake-agent.js'

const TOKEN = 'agent-token-0123456789abcdef'
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

describe("the agent's API wants its token", () => {
  let api: FastifyInstance
  const agent = new FakeAgent()
  const touched: string[] = []
  beforeEach(() => {
    api = buildAgentApi({agent, token: TOKEN, log: createLogger('silent'), onTouched: (id) => touched.push(id)})
  })
  afterEach(() => api.close())

  const get = (url: string, authorization?: string) => api.inject({method: 'GET', url, headers: authorization === undefined ? {} : {authorization}})

  it('answers /healthz to anyone', async () => {
    expect((await get('/healthz')).statusCode).toBe(200)
  })

  it('refuses every other route without the token, with a wrong one, or without the Bearer scheme', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789abcdef', `Basic ${TOKEN}`, TOKEN, 'Bearer ', `Bearer ${TOKEN}x`]) {
      const response = await get('/v1/facts', authorization)
      expect(response.statusCode, String(authorization)).toBe(401)
      expect(response.json()).toEqual({error: 'Unauthorized', message: 'a valid agent token is required'})
    }
    const mark = agent.calls.length
    const refused = await api.inject({method: 'DELETE', url: '/v1/containers/i1', headers: {authorization: 'Bearer nope'}})
    expect(refused.statusCode).toBe(401)
    expect(agent.since(mark)).toEqual([])
    expect(touched).toEqual([])
  })

  it('serves the routes with the token', async () => {
    expect((await get('/v1/facts', `Bearer ${TOKEN}`)).json()).toMatchObject({engineVersion: 'test'})
    const removed = await api.inject({method: 'DELETE', url: '/v1/containers/i1', headers: {authorization: `Bearer ${TOKEN}`}})
    expect(removed.statusCode).toBe(204)
    expect(agent.calls.at(-1)).toEqual({method: 'remove', instanceId: 'i1'})
    expect(touched).toEqual(['i1'])
  })
})

describe('a host whose agent recreated containers gets its binding users back', () => {
  let store: Store
  let provisioner: Provisioner
  let broker: FastifyInstance
  let url: string
  let heartbeats: Heartbeats | undefined
  const lines: string[] = []
  const log = createLogger('debug', (line) => lines.push(line))
  // How the broker reaches the host's containers (apply, exec); after the wipe the heartbeat loop sees an empty engine.
  let host: FakeAgent
  // While set, the broker answers every agent request with 503.
  let down = false

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    provisioner = new Provisioner({store, catalog: kvCatalog(), agentFor: () => host, events: new BrokerEvents(), log, brokerId: 'b1', keepaliveMs: 100})
    down = false
    host = new FakeAgent()
    broker = Fastify()
    broker.addHook('onRequest', async (_request, reply) => {
      if (down) return reply.code(503).send({description: 'the broker is restarting'})
    })
    await broker.register(agentRoutes({store, provisioner, events: new BrokerEvents(), token: TOKEN, keepaliveMs: 100, log}))
    url = await broker.listen({host: '127.0.0.1', port: 0})
  })
  afterEach(async () => {
    await heartbeats?.stop()
    heartbeats = undefined
    await broker.close()
    await store.close()
  })

  const registration = testRegistration('h1', 100)

  it('refuses a register or heartbeat without the agent token', async () => {
    for (const path of ['register', 'heartbeat']) {
      const response = await broker.inject({method: 'POST', url: `/agents/v1/${path}`, headers: {authorization: 'Bearer wrong-token-0123456789'}, payload: {id: 'h1'}})
      expect(response.statusCode).toBe(401)
    }
    expect(await store.getHost('h1')).toBeUndefined()
  })

  /** The host registers, takes an instance and two bindings; its agent stops. The bind hooks since then, of those bindings. */
  const hostWithBindings = async () => {
    heartbeats = startHeartbeats({agent: host, registration, brokers: [url], token: TOKEN, log})
    await heartbeats.nextBeat()
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    const credentials = await Promise.all(['b1', 'b2'].map(async (id) => (await provisioner.bind('i1', id, {...KV}, sync)).body.credentials as {username: string; password: string}))
    await heartbeats.nextBeat()
    expect(host.calls.filter((c) => c.method === 'apply')).toHaveLength(1)
    await heartbeats.stop()
    const mark = host.calls.length
    return {credentials, ofBindings: () => host.since(mark).filter((c) => credentials.some((b) => b.username === c.env?.BIND_USERNAME))}
  }

  it('the agent converges a wiped host, reports what it re-made on its next beat, and the broker replays the bind hook of each binding there', async () => {
    const {credentials, ofBindings} = await hostWithBindings()
    // The same host, wiped: its engine runs nothing, so the next converge pass re-makes i1.
    const wiped = new FakeAgent()
    heartbeats = startHeartbeats({agent: wiped, registration, brokers: [url], token: TOKEN, log})
    await until('i1 re-made on the wiped host', () => wiped.running.has('i1'))
    const replayed = await until('both bind hooks replayed', () => {
      const execs = ofBindings()
      return execs.length >= 2 && execs
    })
    expect(replayed.map((c) => [c.instanceId, c.command])).toEqual([
      ['i1', ['/dbroker/bind']],
      ['i1', ['/dbroker/bind']],
    ])
    expect(replayed.map((c) => c.env).sort((a, b) => a!.BIND_USERNAME.localeCompare(b!.BIND_USERNAME))).toEqual(
      credentials.map((c) => ({BIND_USERNAME: c.username, BIND_PASSWORD: c.password})).sort((a, b) => a.BIND_USERNAME.localeCompare(b.BIND_USERNAME)),
    )
    // Reported once: later beats, with nothing re-made, replay nothing more.
    await heartbeats.nextBeat()
    await heartbeats.nextBeat()
    expect(ofBindings()).toHaveLength(2)
    const logged = lines.join('')
    expect(logged).toMatch(/restored the users of 2 of 2 binding\(s\) of instance i1/)
    for (const c of credentials) expect(logged).not.toContain(c.password)
  })

  it('what the agent re-made while no broker answers is reported once one does', async () => {
    const {ofBindings} = await hostWithBindings()
    const wiped = new FakeAgent()
    const apply = wiped.apply.bind(wiped)
    // The broker goes away just as the converge pass re-makes the container.
    wiped.apply = async (spec) => {
      down = true
      return apply(spec)
    }
    heartbeats = startHeartbeats({agent: wiped, registration, brokers: [url], token: TOKEN, log, maxBackoffMs: 200})
    await until('i1 re-made on the wiped host', () => wiped.running.has('i1'))
    await sleep(500)
    expect(ofBindings()).toEqual([])
    down = false
    await until('both bind hooks replayed', () => ofBindings().length === 2)
  })
})
