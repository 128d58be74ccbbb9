import {afterEach, describe, expect, it, vi} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {startBindingExpiry} from '../../src/broker/lifecycle/binding-expiry.js'
import {Provisioner} from '../../src/broker/lifecycle/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

const sync = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

/** Two brokers on one store (as over a shared PostgreSQL), both running the expiry sweep. */
async function twoBrokers() {
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
  const agent = new FakeAgent()
  const catalog = kvCatalog()
  const provisioners = ['b1', 'b2'].map(
    (brokerId) =>
      new Provisioner({
        store,
        catalog,
        agentFor: () => agent,
        events: new BrokerEvents(),
        log: createLogger('silent'),
        brokerId,
        keepaliveMs: 600_000,
      }),
  )
  return {store, agent, provisioners}
}

describe('bindings with a ttl', () => {
  let store: Store | undefined
  const sweeps: Array<{stop(): Promise<void>}> = []
  afterEach(async () => {
    await Promise.all(sweeps.splice(0).map((s) => s.stop()))
    await store?.close()
  })

  it('records expires_at from context.dbroker_ttl_seconds, and refuses a ttl that is not whole seconds in range', async () => {
    const system = await twoBrokers()
    store = system.store
    const [p1] = system.provisioners
    await p1.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)
    const before = Date.now()
    await p1.bind('i1', 'b-ttl', {...KV, context: {dbroker_ttl_seconds: 60}}, sync)
    const expiresAt = (await store.getBinding('b-ttl'))!.expiresAt!
    expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 60_000)
    await p1.bind('i1', 'b-none', {...KV, context: {platform: 'x'}}, sync)
    expect((await store.getBinding('b-none'))!.expiresAt).toBeNull()
    for (const ttl of [0, -5, 1.5, '60', 10 ** 12])
      await expect(
        p1.bind('i1', `b-${String(ttl)}`, {...KV, context: {dbroker_ttl_seconds: ttl}}, sync),
      ).rejects.toMatchObject({status: 400, message: expect.stringContaining('context.dbroker_ttl_seconds')})
  })

  it('is unbound by exactly one of two sweeping brokers once it expires, through the unbind hook; others stay', async () => {
    const system = await twoBrokers()
    store = system.store
    const [p1, p2] = system.provisioners
    await p1.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)
    await p1.bind('i1', 'short', {...KV, context: {dbroker_ttl_seconds: 1}}, sync)
    await p1.bind('i1', 'long', {...KV, context: {dbroker_ttl_seconds: 3600}}, sync)
    await p1.bind('i1', 'lasting', {...KV}, sync)
    const shortUser = (await store.getBinding('short'))!.credentials.username
    const mark = system.agent.calls.length
    const later = () => Date.now() + 2000
    for (const provisioner of [p1, p2])
      sweeps.push(startBindingExpiry({store, provisioner, log: createLogger('silent'), everyMs: 5, now: later}))
    await vi.waitFor(async () => expect(await store!.getBinding('short')).toBeUndefined())
    const unbindHooks = system.agent
      .since(mark)
      .filter((c) => c.method === 'exec' && c.command?.[0] === '/dbroker/unbind')
    expect(unbindHooks).toHaveLength(1)
    expect(JSON.stringify(unbindHooks[0].env)).toContain(shortUser)
    expect((await store.listBindings('i1')).map((b) => b.id).sort()).toEqual(['lasting', 'long'])
    expect(await store.latestOperation('i1', 'short')).toMatchObject({kind: 'unbind', state: 'succeeded'})
  })
})
