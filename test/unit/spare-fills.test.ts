import {setTimeout as sleep} from 'node:timers/promises'

import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec} from '../../src/core/types.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const async: RequestMeta = {...sync, acceptsIncomplete: true}
const org = {organization_guid: 'o', space_guid: 's'}

/** An agent whose applies of one instance wait until the test lets them finish: a container that takes long to start. */
class SlowStartAgent extends FakeAgent {
  slow?: string
  private release: () => void = () => {}
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve))

  override async apply(spec: ContainerSpec) {
    if (spec.instanceId === this.slow) await this.gate
    return super.apply(spec)
  }

  started(): void {
    this.release()
  }
}

describe('spare users made ahead of binds', () => {
  let store: Store
  let agent: SlowStartAgent
  let provisioner: Provisioner

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
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
    agent = new SlowStartAgent()
    provisioner = new Provisioner({
      store,
      catalog: kvCatalog(),
      agentFor: () => agent,
      events: new BrokerEvents(),
      log: createLogger('silent'),
      brokerId: 'b1',
      keepaliveMs: 60_000,
    })
  })
  afterEach(async () => {
    agent.started()
    await provisioner.drain(5000)
    await store.close()
  })

  it('are not made while a container starts on the same host, and are made once it is ready', async () => {
    expect((await provisioner.provision('i1', {...KV, ...org}, sync)).status).toBe(201)
    await vi.waitFor(async () => expect(await store.spareUsers('i1')).toHaveLength(2))

    agent.slow = 'i2'
    expect((await provisioner.provision('i2', {...KV, ...org}, async)).status).toBe(202)
    // Two binds take both spares of i1: each asks for a refill while i2's container is still starting.
    const mark = agent.calls.length
    for (const b of ['b1', 'b2']) expect((await provisioner.bind('i1', b, {...KV}, sync)).status).toBe(201)
    // An absence is checked after a while: a fill that did not wait would have run its exec by then.
    await sleep(100)
    expect(agent.since(mark).filter((c) => c.method === 'exec')).toEqual([])
    expect(await store.spareUsers('i1')).toHaveLength(0)

    agent.started()
    await vi.waitFor(async () => expect(await store.spareUsers('i1')).toHaveLength(2))
    await vi.waitFor(async () => expect(await store.spareUsers('i2')).toHaveLength(2))
    expect(agent.since(mark).filter((c) => c.method === 'exec' && c.instanceId === 'i1')).toHaveLength(2)
  })
})
