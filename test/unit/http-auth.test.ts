import type {FastifyInstance} from 'fastify'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildAgentApi} from '../../src/agent/api.js'
import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents} from '../../src/broker/events.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {newHostToken} from '../../src/core/host-identity.js'
import {REALMS} from '../../src/core/http-auth.js'
import {silentLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {adminPlugins} from '../../src/system/admin-plugins.js'
import {FakeAgent} from '../helpers/fake-agent.js'

const OSB = {username: 'platform', password: 'osb-password-0123'}
const ADMIN = {username: 'ops', password: 'admin-password-0123'}
const basic = (c: {username: string; password: string}) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`

describe('every realm refuses the same way: 401, a challenge, {description}', () => {
  let broker: FastifyInstance
  let agentApi: FastifyInstance
  let store: Store

  beforeAll(async () => {
    store = await openStore('sqlite::memory:')
    const events = new BrokerEvents()
    const provisioner = {} as Provisioner
    const catalog = loadCatalog()
    const log = silentLogger
    broker = buildBrokerApp({
      catalog,
      provisioner,
      credentials: OSB,
      log,
      health: async () => undefined,
      plugins: [
        ...adminPlugins({
          store,
          catalog,
          provisioner,
          events,
          agentFor: () => new FakeAgent(),
          credentials: ADMIN,
          keepaliveMs: 1000,
          log,
        }),
        agentRoutes({store, provisioner, events, keepaliveMs: 1000, log}),
      ],
    })
    agentApi = buildAgentApi({agent: new FakeAgent(), hostToken: newHostToken(), log})
    await Promise.all([broker.ready(), agentApi.ready()])
  })
  afterAll(async () => {
    await Promise.all([broker.close(), agentApi.close()])
    await store.close()
  })

  const realms = [
    [
      'OSB',
      REALMS.osb,
      () => broker,
      [
        ['GET', '/v2/catalog'],
        ['PUT', '/v2/service_instances/i1'],
      ],
      [basic(ADMIN)],
    ],
    [
      'admin',
      REALMS.admin,
      () => broker,
      [
        ['GET', '/admin/v1/instances'],
        ['GET', '/admin/v1/hosts'],
        ['GET', '/admin/v1/events'],
        ['POST', '/admin/v1/hosts/h1/drain'],
        ['POST', '/admin/v1/hosts/h1/enroll'],
        ['GET', '/admin/v1/enrollments'],
      ],
      [basic(OSB)],
    ],
    [
      'agents',
      REALMS.agents,
      () => broker,
      [
        ['POST', '/agents/v1/register'],
        ['POST', '/agents/v1/heartbeat'],
      ],
      [`Bearer ${newHostToken()}`, basic(ADMIN)],
    ],
    [
      'agent API',
      REALMS.agentApi,
      () => agentApi,
      [
        ['GET', '/v1/facts'],
        ['PUT', '/v1/containers/i1'],
        ['POST', '/v1/containers/i1/exec'],
      ],
      [`Bearer ${newHostToken()}`],
    ],
  ] as const

  let guesses = 0
  for (const [name, realm, app, routes, wrong] of realms) {
    it(`${name}: no credentials or the wrong ones`, async () => {
      for (const [method, url] of routes) {
        for (const authorization of [undefined, ...wrong]) {
          const response = await app().inject({
            // One address per guess, so the login guard's slowing and 429s stay out of this.
            remoteAddress: `10.0.${Math.floor(++guesses / 250)}.${guesses % 250}`,
            method,
            url,
            headers: {'x-broker-api-version': '2.17', ...(authorization ? {authorization} : {})},
            payload: {},
          })
          const what = `${method} ${url} with ${authorization ?? 'nothing'}`
          expect(response.statusCode, what).toBe(401)
          expect(response.headers['www-authenticate'], what).toBe(realm.challenge)
          expect(response.json(), what).toEqual({description: realm.description})
        }
      }
    })
  }
})
