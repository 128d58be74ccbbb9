import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {hostEnrollmentRoutes} from '../../src/broker/admin/index.js'
import {registryRoutes} from '../../src/broker/admin/registries.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {registryAuthRoutes} from '../../src/broker/registries.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

// Attack: a host holds its own token only (semi-trusted). A private registry's login lives in the broker, and
// an agent fetches it right before a pull. Host A asks for the login of an image that only host B runs, as
// itself and as host B: it must get neither the password nor anything that says what it is.

const OSB = {username: 'platform', password: 'osb-password-0123'}
const ADMIN = {username: 'ops', password: 'admin-password-0123'}
const PASSWORD = 'registry-secret-4242'
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const basic = (c: {username: string; password: string}) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`

describe("a host's token opens only the registry logins of images its own containers use", () => {
  let store: Store
  let app: FastifyInstance
  let provisioner: Provisioner
  const log = createLogger('silent')

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    const events = new BrokerEvents()
    const offered = kvCatalog()
    provisioner = new Provisioner({
      store,
      catalog: offered,
      agentFor: () => new FakeAgent(),
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
        registryRoutes({store, events, credentials: ADMIN, log}),
        agentRoutes({store, provisioner, events, keepaliveMs: 60_000, log}),
        registryAuthRoutes({store, catalog: offered, log}),
      ],
    })
    await app.ready()
  })
  afterEach(async () => {
    await provisioner.drain(5_000)
    await app.close()
    await store.close()
  })

  const admin = (method: 'POST' | 'PUT', url: string, payload?: object) =>
    app.inject({method, url, headers: {authorization: basic(ADMIN)}, payload})
  const enroll = async (host: string) =>
    (await admin('POST', `/admin/v1/hosts/${host}/enroll`)).json<{token: string}>().token
  const asHost = (token: string, path: string, payload: object) =>
    app.inject({method: 'POST', url: `/agents/v1/${path}`, headers: {authorization: `Bearer ${token}`}, payload})
  const register = (token: string, id: string, port: number) =>
    asHost(token, 'register', {
      id,
      agentUrl: `https://${id}.example:9997`,
      serviceAddress: `${id}.example`,
      bindAddress: '0.0.0.0',
      portRange: [port, port + 10],
      facts: null,
    })

  it("host A gets no login for host B's image, neither as itself nor as B; B gets it", async () => {
    const tokenB = await enroll('host-b')
    expect((await register(tokenB, 'host-b', 40000)).statusCode).toBe(200)
    // Only host B is there: the instance, and its image example/kv:1 (Docker Hub), are B's.
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    const tokenA = await enroll('host-a')
    expect((await register(tokenA, 'host-a', 41000)).statusCode).toBe(200)
    expect(
      (await admin('PUT', '/admin/v1/registries/docker.io', {username: 'puller', password: PASSWORD})).statusCode,
    ).toBe(200)

    const asItself = await asHost(tokenA, 'registry-auth', {id: 'host-a', image: 'example/kv:1'})
    expect(asItself.statusCode).toBe(403)
    expect(asItself.body).not.toContain(PASSWORD)
    expect(asItself.body).not.toContain('puller')
    const asB = await asHost(tokenA, 'registry-auth', {id: 'host-b', image: 'example/kv:1'})
    expect(asB.statusCode).toBe(403)
    expect(asB.body).not.toContain(PASSWORD)

    const own = await asHost(tokenB, 'registry-auth', {id: 'host-b', image: 'example/kv:1'})
    expect(own.statusCode).toBe(200)
    expect(own.json()).toEqual({
      auth: {username: 'puller', password: PASSWORD, serveraddress: 'https://index.docker.io/v1/'},
    })
    // The admin API lists logins without their passwords.
    const listed = await app.inject({
      method: 'GET',
      url: '/admin/v1/registries',
      headers: {authorization: basic(ADMIN)},
    })
    expect(listed.body).not.toContain(PASSWORD)
  })
})
