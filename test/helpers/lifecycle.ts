import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner} from '../../src/broker/lifecycle/index.js'
import type {Catalog} from '../../src/catalog/index.js'
import {createLogger, type Logger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, kvCatalog} from './fake-agent.js'

/** The broker's lifecycle over an in-memory store and one live host (h1, 10.0.0.2) run by an agent without Docker. */
export async function fakeLifecycle<A extends FakeAgent>(
  agent: A,
  catalog: Catalog = kvCatalog(),
  log: Logger = createLogger('silent'),
): Promise<{store: Store; agent: A; events: BrokerEvents; provisioner: Provisioner; catalog: Catalog}> {
  const store = await openStore('sqlite::memory:')
  await store.upsertHost({
    id: 'h1',
    serviceAddress: '10.0.0.2',
    bindAddress: '10.0.0.2',
    agentUrl: null,
    portMin: 40000,
    portMax: 40010,
    zone: null,
    labels: {},
    facts: null,
  })
  const events = new BrokerEvents()
  // A keepalive longer than any test: h1 stays live without heartbeats.
  const provisioner = new Provisioner({
    store,
    catalog,
    agentFor: () => agent,
    events,
    log,
    brokerId: 'b1',
    keepaliveMs: 600_000,
  })
  return {store, agent, events, provisioner, catalog}
}
