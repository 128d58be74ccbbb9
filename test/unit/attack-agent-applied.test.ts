import {setTimeout as sleep} from 'node:timers/promises'

import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {hostEnrollmentRoutes} from '../../src/broker/admin/index.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

// Attacker review (w3): a host holding ONE host token sends a 24 KB heartbeat whose `applied`
// names its own instance 4096 times. The schema caps the array's length but not repeats, and
// the broker starts one replay of every binding's (and spare's) bind hook per entry, unbounded,
// in the background: ~20,000 hook execs and store reads from one beat, repeatable every beat.
// Through `dbroker broker start` (sqlite) one such beat kept the broker at 60-70 % CPU, grew its
// RSS to 317 MB, and made an unrelated OSB GET /v2/catalog take 16 s and empty heartbeats 7-36 s.

const OSB = {username: 'platform', password: 'osb-password-0123'}
const ADMIN = {username: 'ops', password: 'admin-password-0123'}
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const basic = (c: {username: string; password: string}) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`

describe("a host's heartbeat cannot make the broker replay one instance's hooks thousands of times", () => {
  let store: Store
  let app: FastifyInstance
  let provisioner: Provisioner
  const agent = new FakeAgent()
  const log = createLogger('silent')

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    const events = new BrokerEvents()
    provisioner = new Provisioner({
      store,
      catalog: kvCatalog(),
      agentFor: () => agent,
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
    await provisioner.drain(5_000)
    await app.close()
    await store.close()
  })

  it('200 copies of one instance id in `applied` (the schema allows 4096) replay its bindings at most once', async () => {
    const enrolled = await app.inject({
      method: 'POST',
      url: '/admin/v1/hosts/host-a/enroll',
      headers: {authorization: basic(ADMIN)},
    })
    const token = enrolled.json<{token: string}>().token
    const call = (path: string, payload: object) =>
      app.inject({method: 'POST', url: `/agents/v1/${path}`, headers: {authorization: `Bearer ${token}`}, payload})
    const registration = {
      id: 'host-a',
      agentUrl: 'https://host-a.example:9997',
      serviceAddress: 'host-a.example',
      bindAddress: '0.0.0.0',
      portRange: [40000, 40010],
      facts: null,
    }
    expect((await call('register', registration)).statusCode).toBe(200)
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    for (const id of ['b1', 'b2', 'b3']) expect((await provisioner.bind('i1', id, KV, sync)).status).toBe(201)
    await provisioner.drain(5_000)
    const execs = () => agent.calls.filter((c) => c.method === 'exec').length
    const before = execs()

    const beat = await call('heartbeat', {id: 'host-a', facts: null, applied: Array(200).fill('i1')})
    expect(beat.statusCode).toBe(200)
    await sleep(1500)

    // One replay re-makes 3 binding users and at most 2 spares: 5 execs. Not 200 x 5 (with 4096 copies this
    // test does not even get its heartbeat answered within 30 s).
    expect(execs() - before).toBeLessThanOrEqual(5)
  }, 60_000)
})
