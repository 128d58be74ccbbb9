import type {FastifyInstance, LightMyRequestResponse} from 'fastify'

import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {hostEnrollmentRoutes} from '../../src/broker/admin/index.js'
import {registryRoutes} from '../../src/broker/admin/registries.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner} from '../../src/broker/lifecycle/index.js'
import {registryAuthRoutes} from '../../src/broker/registries.js'
import type {Catalog} from '../../src/catalog/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent} from './fake-agent.js'

export const OSB = {username: 'platform', password: 'osb-password-0123'}
export const ADMIN = {username: 'ops', password: 'admin-password-0123'}
export const basic = (c: {username: string; password: string}) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`

export interface RegistryAuthBroker {
  store: Store
  app: FastifyInstance
  provisioner: Provisioner
  admin: (method: 'POST' | 'PUT', url: string, payload?: object) => Promise<LightMyRequestResponse>
  asHost: (token: string, path: string, payload: object) => Promise<LightMyRequestResponse>
  close: () => Promise<void>
}

/** A broker in-process (in-memory store, fake agents) with host enrollment, agent and registry-login routes. */
export async function startRegistryAuthBroker(catalog: () => Catalog): Promise<RegistryAuthBroker> {
  const log = createLogger('silent')
  const store = await openStore('sqlite::memory:')
  const events = new BrokerEvents()
  const offered = catalog()
  const provisioner = new Provisioner({
    store,
    catalog: offered,
    agentFor: () => new FakeAgent(),
    events,
    log,
    brokerId: 'b1',
    keepaliveMs: 60_000,
  })
  const app = buildBrokerApp({
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
  return {
    store,
    app,
    provisioner,
    admin: (method, url, payload) => app.inject({method, url, headers: {authorization: basic(ADMIN)}, payload}),
    asHost: (token, path, payload) =>
      app.inject({method: 'POST', url: `/agents/v1/${path}`, headers: {authorization: `Bearer ${token}`}, payload}),
    close: async () => {
      await provisioner.drain(5_000)
      await app.close()
      await store.close()
    },
  }
}
