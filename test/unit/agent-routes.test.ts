import {setTimeout as sleep} from 'node:timers/promises'

import Fastify, {type FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {buildAgentApi} from '../../src/agent/api.js'
import {type Heartbeats, startHeartbeats} from '../../src/agent/heartbeat.js'
import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents, type ChangeEvent} from '../../src/broker/events.js'
import {hostEnrollmentRoutes} from '../../src/broker/admin/index.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {brokerCredential, hostTokenHash, newHostToken} from '../../src/core/host-identity.js'
import {createLogger} from '../../src/core/log.js'
import {hostIdentities, openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, guarded, KV, kvCatalog, testRegistration} from '../helpers/fake-agent.js'
import {until} from '../helpers/until.js'

const TOKEN = newHostToken()
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

describe("the agent's API answers only the brokers' credential for its own host", () => {
  let api: FastifyInstance
  const agent = new FakeAgent()
  const touched: string[] = []
  // What a broker presents to this host's agent, and what another host's agent holds.
  const broker = `Bearer ${brokerCredential(hostTokenHash(TOKEN))}`
  const otherHost = newHostToken()
  beforeEach(() => {
    api = buildAgentApi({agent, hostToken: TOKEN, log: createLogger('silent'), onTouched: (id) => touched.push(id)})
  })
  afterEach(() => api.close())

  const get = (url: string, authorization?: string) =>
    api.inject({method: 'GET', url, headers: authorization === undefined ? {} : {authorization}})

  it('answers /healthz to anyone', async () => {
    expect((await get('/healthz')).statusCode).toBe(200)
  })

  it('refuses every other route without the credential, with a wrong one, or without the Bearer scheme', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token-0123456789abcdef',
      `Basic ${broker.slice(7)}`,
      broker.slice(7),
      'Bearer ',
      `${broker}x`,
    ]) {
      const response = await get('/v1/facts', authorization)
      expect(response.statusCode, String(authorization)).toBe(401)
      expect(response.json()).toEqual({description: "the brokers' credential for this host is required"})
      expect(response.headers['www-authenticate']).toBe('Bearer realm="dbroker agent"')
    }
    const mark = agent.calls.length
    const refused = await api.inject({
      method: 'DELETE',
      url: '/v1/containers/i1',
      headers: {authorization: 'Bearer nope'},
    })
    expect(refused.statusCode).toBe(401)
    expect(agent.since(mark)).toEqual([])
    expect(touched).toEqual([])
  })

  it("another host's agent can't call it: neither with its own token nor with the credential of its own host; nor with this host's token", async () => {
    const mark = agent.calls.length
    for (const authorization of [
      `Bearer ${otherHost}`,
      `Bearer ${brokerCredential(hostTokenHash(otherHost))}`,
      `Bearer ${TOKEN}`,
    ]) {
      expect((await get('/v1/containers', authorization)).statusCode).toBe(401)
      const exec = await api.inject({
        method: 'POST',
        url: '/v1/containers/i1/exec',
        headers: {authorization},
        payload: {command: ['sh', '-c', 'cat /proc/1/environ']},
      })
      expect(exec.statusCode).toBe(401)
    }
    expect(agent.since(mark)).toEqual([])
  })

  it("serves the routes with the brokers' credential", async () => {
    expect((await get('/v1/facts', broker)).json()).toMatchObject({engineVersion: 'test'})
    const removed = await api.inject({method: 'DELETE', url: '/v1/containers/i1', headers: {authorization: broker}})
    expect(removed.statusCode).toBe(204)
    expect(agent.calls.at(-1)).toEqual({method: 'remove', instanceId: 'i1'})
    expect(touched).toEqual(['i1'])
  })
})

const OSB = {username: 'platform', password: 'osb-password-0123'}
const ADMIN = {username: 'ops', password: 'admin-password-0123'}
const FACTS = {
  engineVersion: '20.10',
  cpus: 2,
  memoryBytes: 1024 ** 3,
  containersRunning: 0,
  registryMirrors: [],
  insecureRegistries: [],
  loggingDriver: 'json-file',
}
const basic = (c: {username: string; password: string}) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`

describe('each host speaks only for itself, and the operator approves a change of address', () => {
  let store: Store
  let provisioner: Provisioner
  let app: FastifyInstance
  let changes: ChangeEvent[]
  const lines: string[] = []
  const log = createLogger('debug', (line) => lines.push(line))
  const agents = new Map<string, FakeAgent>()

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    const events = new BrokerEvents()
    changes = []
    events.on('change', (event) => changes.push(event))
    const agentFor = (host: {id: string}) => agents.get(host.id) ?? agents.set(host.id, new FakeAgent()).get(host.id)!
    provisioner = new Provisioner({
      store,
      catalog: kvCatalog(),
      agentFor,
      events,
      log,
      brokerId: 'b1',
      keepaliveMs: 60_000,
    })
    app = buildBrokerApp({
      catalog: kvCatalog(),
      provisioner,
      credentials: OSB,
      log,
      health: async () => undefined,
      plugins: [
        hostEnrollmentRoutes({store, events, credentials: ADMIN, log}),
        agentRoutes({store, provisioner, events, keepaliveMs: 60_000, log}),
      ],
    })
    await app.ready()
  })
  afterEach(async () => {
    await app.close()
    await store.close()
  })

  const enroll = async (id: string): Promise<string> => {
    const response = await app.inject({
      method: 'POST',
      url: `/admin/v1/hosts/${id}/enroll`,
      headers: {authorization: basic(ADMIN)},
    })
    expect(response.statusCode).toBe(201)
    return response.json<{token: string}>().token
  }
  const registration = (id: string, agentUrl = `https://${id}.example:9997`, serviceAddress = `${id}.example`) => ({
    id,
    agentUrl,
    serviceAddress,
    bindAddress: '0.0.0.0',
    portRange: [40000, 40010],
    facts: null,
  })
  const agentCall = (token: string, path: 'register' | 'heartbeat', payload: object) =>
    app.inject({method: 'POST', url: `/agents/v1/${path}`, headers: {authorization: `Bearer ${token}`}, payload})

  it("the token of host A can't register as B, heartbeat as B or read B's specs and their passwords", async () => {
    const [a, b] = [await enroll('host-a'), await enroll('host-b')]
    expect((await agentCall(b, 'register', registration('host-b'))).statusCode).toBe(200)
    const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    const password = (await store.getInstance('i1'))!.credentials.password
    const before = (await store.getHost('host-b'))!

    const asB = await agentCall(a, 'heartbeat', {id: 'host-b', facts: null})
    expect(asB.statusCode).toBe(403)
    expect(asB.body).not.toContain(password)
    expect(asB.json()).toEqual({
      error: 'Forbidden',
      description: "this token is host host-a's; it cannot speak for host host-b",
    })
    const hijack = await agentCall(a, 'register', registration('host-b', 'https://evil.example:9997', 'evil.example'))
    expect(hijack.statusCode).toBe(403)
    expect(hijack.body).not.toContain(password)
    expect(await store.getHost('host-b')).toEqual(before)

    // As itself, A gets its own (empty) specs; B still gets its own, with the password.
    const asA = await agentCall(a, 'register', registration('host-a'))
    expect(asA.statusCode).toBe(200)
    expect(asA.json().specs).toEqual([])
    expect(asA.body).not.toContain(password)
    expect((await agentCall(b, 'heartbeat', {id: 'host-b', facts: null})).body).toContain(password)
    expect(lines.join('')).toMatch(/the agent of host host-a tried to speak for host host-b: refused/)
  })

  it('an agent holding a token cannot store megabytes: a 1 MB label, too many labels or an endless zone is a 400 naming the field, and nothing is stored', async () => {
    const a = await enroll('host-a')
    const refused = [
      [{labels: {disk: 'x'.repeat(1_000_000)}}, /labels\.disk: Too big/],
      [{labels: Object.fromEntries(Array.from({length: 33}, (_, i) => [`l${i}`, 'v']))}, /labels: at most 32 labels/],
      [{zone: 'z'.repeat(64)}, /zone: Too big/],
      [{facts: {...FACTS, engineVersion: 'v'.repeat(100_000)}}, /facts\.engineVersion: Too big/],
      [
        {containers: Array.from({length: 4097}, (_, i) => ({instanceId: `i${i}`, status: 'running'}))},
        /containers: Too big/,
      ],
    ] as const
    for (const [extra, field] of refused) {
      const response = await agentCall(a, 'register', {...registration('host-a'), ...extra})
      expect(response.statusCode, String(field)).toBe(400)
      expect(response.json<{description: string}>().description).toMatch(field)
    }
    expect(await store.getHost('host-a')).toBeUndefined()
    const big = await agentCall(a, 'heartbeat', {id: 'host-a', facts: {...FACTS, os: 'o'.repeat(300)}})
    expect(big.statusCode).toBe(400)
    expect(big.json<{description: string}>().description).toMatch(/facts\.os: Too big/)
  })

  it("host A's reports about B's instance change nothing anyone sees; B's own do", async () => {
    const [a, b] = [await enroll('host-a'), await enroll('host-b')]
    await agentCall(b, 'register', registration('host-b'))
    const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    await agentCall(a, 'register', registration('host-a'))
    const containerEvents = () => changes.filter((c) => c.action === 'container')
    for (const status of ['running', 'exited', 'running']) {
      expect(
        (await agentCall(a, 'heartbeat', {id: 'host-a', facts: null, containers: [{instanceId: 'i1', status}]}))
          .statusCode,
      ).toBe(200)
    }
    expect(containerEvents()).toEqual([])
    for (const status of ['running', 'exited'])
      await agentCall(b, 'heartbeat', {id: 'host-b', facts: null, containers: [{instanceId: 'i1', status}]})
    expect(containerEvents()).toMatchObject([{id: 'i1', state: 'exited'}])
  })

  it('a token no host holds, a revoked or a rotated-away token opens nothing', async () => {
    const a = await enroll('host-a')
    expect((await agentCall(newHostToken(), 'register', registration('host-a'))).statusCode).toBe(401)
    expect((await agentCall(a, 'register', registration('host-a'))).statusCode).toBe(200)
    const rotated = await app.inject({
      method: 'POST',
      url: '/admin/v1/hosts/host-a/enroll?rotate=true',
      headers: {authorization: basic(ADMIN)},
    })
    expect(rotated.statusCode).toBe(200)
    expect((await agentCall(a, 'heartbeat', {id: 'host-a', facts: null})).statusCode).toBe(401)
    const fresh = rotated.json<{token: string}>().token
    expect((await agentCall(fresh, 'heartbeat', {id: 'host-a', facts: null})).statusCode).toBe(200)
    expect(
      (
        await app.inject({
          method: 'DELETE',
          url: '/admin/v1/hosts/host-a/enrollment',
          headers: {authorization: basic(ADMIN)},
        })
      ).statusCode,
    ).toBe(200)
    expect((await store.getHost('host-a'))!.status).toBe('dead')
    expect((await agentCall(fresh, 'heartbeat', {id: 'host-a', facts: null})).statusCode).toBe(401)
    // Enrolled again, its agent with the new token brings it back.
    const again = await enroll('host-a')
    expect((await agentCall(again, 'register', registration('host-a'))).statusCode).toBe(200)
    expect((await store.getHost('host-a'))!.status).toBe('alive')
  })

  it('enrolling twice is refused without --rotate; the admin routes want the admin credentials, not the OSB ones', async () => {
    await enroll('host-a')
    const again = await app.inject({
      method: 'POST',
      url: '/admin/v1/hosts/host-a/enroll',
      headers: {authorization: basic(ADMIN)},
    })
    expect(again.statusCode).toBe(409)
    expect(again.json().description).toMatch(/--rotate/)
    for (const [method, url] of [
      ['POST', '/admin/v1/hosts/host-c/enroll'],
      ['GET', '/admin/v1/enrollments'],
      ['POST', '/admin/v1/hosts/host-a/approve'],
      ['DELETE', '/admin/v1/hosts/host-a/enrollment'],
    ] as const) {
      expect((await app.inject({method, url, headers: {authorization: basic(OSB)}})).statusCode, url).toBe(401)
    }
    expect((await hostIdentities.listHostIdentities(store)).map((h) => h.hostId)).toEqual(['host-a'])
  })

  it('a re-registration with a new agent URL or address is refused (409) and pending; approved, it applies', async () => {
    const a = await enroll('host-a')
    expect((await agentCall(a, 'register', registration('host-a'))).statusCode).toBe(200)
    const moved = registration('host-a', 'https://elsewhere.example:9997', 'elsewhere.example')
    const refused = await agentCall(a, 'register', moved)
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({
      error: 'ChangePending',
      description: expect.stringMatching(
        /agent URL https:\/\/host-a\.example:9997 -> https:\/\/elsewhere\.example:9997.*dbroker hosts approve host-a/,
      ),
    })
    expect((await store.getHost('host-a'))!).toMatchObject({
      agentUrl: 'https://host-a.example:9997',
      serviceAddress: 'host-a.example',
    })
    // Asked again (the agent retries): still refused, and still one pending change.
    expect((await agentCall(a, 'register', moved)).statusCode).toBe(409)
    const listed = await app.inject({
      method: 'GET',
      url: '/admin/v1/enrollments',
      headers: {authorization: basic(ADMIN)},
    })
    expect(listed.json()).toEqual([
      {
        hostId: 'host-a',
        enrolledAt: expect.any(Number),
        pending: {
          agentUrl: 'https://elsewhere.example:9997',
          serviceAddress: 'elsewhere.example',
          bindAddress: '0.0.0.0',
          requestedAt: expect.any(Number),
        },
      },
    ])
    expect(lines.join('').match(/host host-a asks to change/g)).toHaveLength(1)

    const approved = await app.inject({
      method: 'POST',
      url: '/admin/v1/hosts/host-a/approve',
      headers: {authorization: basic(ADMIN)},
    })
    expect(approved.statusCode).toBe(200)
    // Dead until the agent at the new address registers: the one that heartbeated so far was the old one.
    expect((await store.getHost('host-a'))!).toMatchObject({
      agentUrl: 'https://elsewhere.example:9997',
      serviceAddress: 'elsewhere.example',
      status: 'dead',
    })
    expect((await agentCall(a, 'register', moved)).statusCode).toBe(200)
    expect((await store.getHost('host-a'))!.status).toBe('alive')
    expect((await hostIdentities.listHostIdentities(store))[0].pending).toBeNull()
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/admin/v1/hosts/host-a/approve',
          headers: {authorization: basic(ADMIN)},
        })
      ).statusCode,
    ).toBe(404)
  })

  it('an agent URL in plain http off loopback is refused unless the broker is --insecure; loopback http is fine', async () => {
    const a = await enroll('host-a')
    const cleartext = await agentCall(a, 'register', registration('host-a', 'http://10.0.0.5:9997', '10.0.0.5'))
    expect(cleartext.statusCode).toBe(400)
    expect(cleartext.json().description).toMatch(/http:\/\/10\.0\.0\.5:9997 is plain http.*--insecure/)
    expect(await store.getHost('host-a')).toBeUndefined()
    expect(
      (await agentCall(a, 'register', registration('host-a', 'http://127.0.0.1:9997', '127.0.0.1'))).statusCode,
    ).toBe(200)
  })

  it('a service address with control characters is refused', async () => {
    const a = await enroll('host-a')
    expect((await agentCall(a, 'register', registration('host-a', undefined, 'x\u001b[2Jevil'))).statusCode).toBe(400)
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
  // Short, so beats come quickly; not so short that a loaded machine's stall of this process marks the host dead.
  const KEEPALIVE = 500

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    provisioner = new Provisioner({
      store,
      catalog: kvCatalog(),
      agentFor: () => host,
      events: new BrokerEvents(),
      log,
      brokerId: 'b1',
      keepaliveMs: KEEPALIVE,
    })
    down = false
    host = new FakeAgent()
    broker = Fastify()
    broker.addHook('onRequest', async (_request, reply) => {
      if (down) return reply.code(503).send({description: 'the broker is restarting'})
    })
    await hostIdentities.enrollHost(store, 'h1', hostTokenHash(TOKEN), {replace: false})
    await broker.register(agentRoutes({store, provisioner, events: new BrokerEvents(), keepaliveMs: KEEPALIVE, log}))
    url = await broker.listen({host: '127.0.0.1', port: 0})
  })
  afterEach(async () => {
    await heartbeats?.stop()
    heartbeats = undefined
    await broker.close()
    await store.close()
  })

  const registration = testRegistration('h1', KEEPALIVE)

  it("refuses a register or heartbeat without the host's token", async () => {
    for (const path of ['register', 'heartbeat']) {
      const response = await broker.inject({
        method: 'POST',
        url: `/agents/v1/${path}`,
        headers: {authorization: 'Bearer wrong-token-0123456789'},
        payload: {id: 'h1'},
      })
      expect(response.statusCode).toBe(401)
    }
    expect(await store.getHost('h1')).toBeUndefined()
  })

  /** The host registers, takes an instance and two bindings; its agent stops. The bind hooks since then, of those bindings. */
  const hostWithBindings = async () => {
    heartbeats = startHeartbeats({...guarded(host), registration, brokers: [url], token: TOKEN, log})
    await heartbeats.nextBeat()
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    const credentials = await Promise.all(
      ['b1', 'b2'].map(
        async (id) =>
          (await provisioner.bind('i1', id, {...KV}, sync)).body.credentials as {username: string; password: string},
      ),
    )
    await heartbeats.nextBeat()
    expect(host.calls.filter((c) => c.method === 'apply')).toHaveLength(1)
    await heartbeats.stop()
    const mark = host.calls.length
    return {
      credentials,
      ofBindings: () => host.since(mark).filter((c) => credentials.some((b) => b.username === c.env?.BIND_USERNAME)),
    }
  }

  it('the agent converges a wiped host, reports what it re-made on its next beat, and the broker replays the bind hook of each binding there', async () => {
    const {credentials, ofBindings} = await hostWithBindings()
    // The same host, wiped: its engine runs nothing, so the next converge pass re-makes i1.
    const wiped = new FakeAgent()
    heartbeats = startHeartbeats({...guarded(wiped), registration, brokers: [url], token: TOKEN, log})
    await until('i1 re-made on the wiped host', () => wiped.running.has('i1'), {everyMs: 20})
    const replayed = await until(
      'both bind hooks replayed',
      () => {
        const execs = ofBindings()
        return execs.length >= 2 && execs
      },
      {everyMs: 20},
    )
    expect(replayed.map((c) => [c.instanceId, c.command])).toEqual([
      ['i1', ['/dbroker/bind']],
      ['i1', ['/dbroker/bind']],
    ])
    expect(replayed.map((c) => c.env).sort((a, b) => a!.BIND_USERNAME.localeCompare(b!.BIND_USERNAME))).toEqual(
      credentials
        .map((c) => ({BIND_USERNAME: c.username, BIND_PASSWORD: c.password}))
        .sort((a, b) => a.BIND_USERNAME.localeCompare(b.BIND_USERNAME)),
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
    heartbeats = startHeartbeats({
      ...guarded(wiped),
      registration,
      brokers: [url],
      token: TOKEN,
      log,
      maxBackoffMs: 200,
    })
    await until('i1 re-made on the wiped host', () => wiped.running.has('i1'), {everyMs: 20})
    await sleep(500)
    expect(ofBindings()).toEqual([])
    down = false
    await until('both bind hooks replayed', () => ofBindings().length === 2, {everyMs: 20})
  })
})
