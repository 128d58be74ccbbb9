import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {hostEnrollmentRoutes} from '../../src/broker/admin/index.js'
import {registryRoutes} from '../../src/broker/admin/registries.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {registryAuthRoutes} from '../../src/broker/registries.js'
import {parseCatalog} from '../../src/catalog/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent} from '../helpers/fake-agent.js'

// Attack: a host (semi-trusted: its own token only) that runs no image of Docker Hub is given a static plan's
// instance (static instances run nothing and are placed on any live host). Its record names the image "static",
// which reads as a Docker Hub image, so the host's token obtains the operator's Docker Hub login by asking for
// image "static" (or "existing" for an adopted container): a login none of its containers pulls with.
const OSB = {username: 'platform', password: 'osb-password-0123'}
const ADMIN = {username: 'ops', password: 'admin-password-0123'}
const PASSWORD = 'registry-secret-4242'
const STATIC = {service_id: '33333333-3333-4333-8333-333333333333', plan_id: '44444444-4444-4444-8444-444444444444'}
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const basic = (c: {username: string; password: string}) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`

const catalog = () =>
  parseCatalog(
    `services:
  - id: ${STATIC.service_id}
    name: legacy
    description: the operator's database
    bindable: true
    plans:
      - id: ${STATIC.plan_id}
        name: static
        description: given credentials
        kind: {static: {credentials: {host: db.example, port: 5432, username: ops, password: given-pw-123, uri: "postgresql://db.example/x"}}}
`,
    'catalog.yml',
  )

describe('a host with only a static instance gets no registry login', () => {
  let store: Store
  let app: FastifyInstance
  let provisioner: Provisioner
  const log = createLogger('silent')

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    const events = new BrokerEvents()
    const offered = catalog()
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
      catalog: catalog(),
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
  const asHost = (token: string, path: string, payload: object) =>
    app.inject({method: 'POST', url: `/agents/v1/${path}`, headers: {authorization: `Bearer ${token}`}, payload})

  it('asking for the image its static instance "names" gives no Docker Hub login', async () => {
    const token = (await admin('POST', '/admin/v1/hosts/host-a/enroll')).json<{token: string}>().token
    const registered = await asHost(token, 'register', {
      id: 'host-a',
      agentUrl: 'https://host-a.example:9997',
      serviceAddress: 'host-a.example',
      bindAddress: '0.0.0.0',
      portRange: [40000, 40010],
      facts: null,
    })
    expect(registered.statusCode).toBe(200)
    expect((await provisioner.provision('i1', {...STATIC, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(
      201,
    )
    expect((await store.getInstance('i1'))?.hostId).toBe('host-a')
    expect(
      (await admin('PUT', '/admin/v1/registries/docker.io', {username: 'puller', password: PASSWORD})).statusCode,
    ).toBe(200)

    for (const image of ['static', 'existing', '']) {
      const asked = await asHost(token, 'registry-auth', {id: 'host-a', image})
      expect(asked.body, `image "${image}"`).not.toContain(PASSWORD)
    }
  })
})
