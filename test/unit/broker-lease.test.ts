import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import type {ChangeEvent} from '../../src/broker/events.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {startBrokerLease, type Liveness} from '../../src/broker/liveness.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import type {ApplyOptions} from '../../src/core/agent.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec, ContainerState} from '../../src/core/types.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

const LEASE = 1000
const log = createLogger('silent')

/** The few store calls the lease makes; its lease beats answer, fail or hang as the test says. */
function leaseStore() {
  const store = {
    mode: 'ok' as 'ok' | 'fail' | 'hang',
    renewals: 0,
    hung: [] as Array<() => void>,
    /** The hung beats answer at last (so the lease can stop). */
    release() {
      store.mode = 'ok'
      for (const answer of store.hung.splice(0)) answer()
    },
    async brokerHeartbeat(): Promise<void> {
      if (store.mode === 'fail') throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
      if (store.mode === 'hang') return new Promise((resolve) => store.hung.push(resolve))
      store.renewals++
    },
    async listBrokers() {
      return []
    },
    async operationsInProgress() {
      return []
    },
    async removeBroker(): Promise<void> {},
  }
  return store
}

describe("a broker's lease on its operations, on a fake clock", () => {
  let lease: Liveness | undefined
  beforeEach(() => {
    vi.useFakeTimers({now: 0})
  })
  afterEach(async () => {
    const stopping = lease?.stop()
    await vi.runOnlyPendingTimersAsync()
    await stopping
    lease = undefined
    vi.useRealTimers()
  })

  const start = (store: ReturnType<typeof leaseStore>) => {
    const provisioner = {abandon: vi.fn(async (_reason: string) => 2), resume: vi.fn(async (_owners?: string[]) => 1)}
    lease = startBrokerLease({
      store: store as unknown as Store,
      provisioner,
      brokerId: 'b1',
      url: null,
      leaseMs: LEASE,
      log,
    })
    return provisioner
  }

  it('renewed on time, it never stops anything', async () => {
    const store = leaseStore()
    const provisioner = start(store)
    await vi.advanceTimersByTimeAsync(20 * LEASE)
    expect(store.renewals).toBeGreaterThanOrEqual(20)
    expect(provisioner.abandon).not.toHaveBeenCalled()
  })

  it('beats that fail: the operations stop once, before another broker may claim them; renewed again, it resumes what nobody took', async () => {
    const store = leaseStore()
    const provisioner = start(store)
    await vi.advanceTimersByTimeAsync(5 * LEASE + 100) // last renewal at 5 s
    store.mode = 'fail'
    await vi.advanceTimersByTimeAsync(2 * LEASE) // 7.1 s: 2.1 s without a renewal
    expect(provisioner.abandon).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(LEASE) // 8.1 s: past 2.5 s, before the 3 s after which others take over
    expect(provisioner.abandon).toHaveBeenCalledOnce()
    expect(provisioner.abandon.mock.calls[0][0]).toMatch(
      /broker b1 could not renew its lease for 3 s; another broker may own its operations now/,
    )
    await vi.advanceTimersByTimeAsync(10 * LEASE)
    expect(provisioner.abandon).toHaveBeenCalledOnce()
    expect(provisioner.resume).not.toHaveBeenCalled()
    store.mode = 'ok'
    await vi.advanceTimersByTimeAsync(LEASE)
    expect(provisioner.resume).toHaveBeenCalledOnce()
    expect(provisioner.resume.mock.calls[0]).toEqual([])
    await vi.advanceTimersByTimeAsync(10 * LEASE)
    expect(provisioner.resume).toHaveBeenCalledOnce()
    expect(provisioner.abandon).toHaveBeenCalledOnce()
  })

  it('a beat that hangs on the store: the operations stop all the same', async () => {
    const store = leaseStore()
    const provisioner = start(store)
    await vi.advanceTimersByTimeAsync(3 * LEASE + 100)
    store.mode = 'hang'
    await vi.advanceTimersByTimeAsync(3 * LEASE)
    expect(provisioner.abandon).toHaveBeenCalledOnce()
    store.release()
  })
})

/** An engine whose apply runs until its signal stops it, as a slow image or readiness probe would. */
class SlowAgent extends FakeAgent {
  slow = false
  applying = 0

  override async apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    if (!this.slow) return super.apply(spec)
    this.calls.push({method: 'apply', instanceId: spec.instanceId})
    this.applying++
    return new Promise((_resolve, reject) =>
      options.signal?.addEventListener('abort', () => reject(options.signal!.reason as Error)),
    )
  }
}

describe('a broker that lost its lease stops its operations without cleanup, and the broker that took over finishes them', () => {
  const async: RequestMeta = {acceptsIncomplete: true, originatingIdentity: null, requestIdentity: null}
  let store: Store
  let agent: SlowAgent
  let events: ChangeEvent[]
  let b1: Provisioner
  let b2: Provisioner

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    await store.upsertHost({
      id: 'h1',
      serviceAddress: '10.0.0.2',
      bindAddress: '10.0.0.2',
      agentUrl: 'http://10.0.0.2:9997',
      portMin: 40000,
      portMax: 40010,
      zone: null,
      labels: {},
      facts: null,
    })
    agent = new SlowAgent()
    events = []
    const brokerEvents = new BrokerEvents()
    brokerEvents.on('change', (event) => events.push(event))
    const provisioner = (brokerId: string) =>
      new Provisioner({
        store,
        catalog: kvCatalog(),
        agentFor: () => agent,
        events: brokerEvents,
        log,
        brokerId,
        keepaliveMs: 60_000,
      })
    b1 = provisioner('b1')
    b2 = provisioner('b2')
  })
  afterEach(async () => {
    await b1.drain(5000)
    await b2.drain(5000)
    await store.close()
  })

  const operationOf = async (instanceId: string) =>
    (await store.operationsInProgress()).find((op) => op.instanceId === instanceId)

  it('a provision: nothing removed, nothing recorded, the instance and its port kept; b2 finishes it', async () => {
    agent.slow = true
    const reply = await b1.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, async)
    expect(reply.status).toBe(202)
    await vi.waitFor(() => expect(agent.applying).toBe(1))
    const ports = await store.portsOf('i1')
    const mark = agent.calls.length
    const eventsBefore = events.length

    expect(await b1.abandon('the lease of b1 ran out')).toBe(1)

    expect(agent.since(mark)).toEqual([])
    expect((await store.getInstance('i1'))?.state).toBe('provisioning')
    expect(await store.portsOf('i1')).toEqual(ports)
    expect(await operationOf('i1')).toMatchObject({id: reply.body.operation, state: 'in progress', owner: 'b1'})
    expect(events.slice(eventsBefore)).toEqual([])

    agent.slow = false
    expect(await b2.resume(['b1'])).toBe(1)
    await b2.drain(5000)
    expect((await store.getOperation(reply.body.operation as string))?.state).toBe('succeeded')
    expect((await store.getInstance('i1'))?.state).toBe('ready')
    expect(agent.running.has('i1')).toBe(true)
  })

  it('an update: no rollback to the old container, the instance stays updating until b2 ends it', async () => {
    const sync = {...async, acceptsIncomplete: false}
    expect((await b1.provision('i2', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    await b1.drain(5000)
    agent.slow = true
    const reply = await b1.update('i2', {service_id: KV.service_id, parameters: {policy: 'allkeys-lru'}}, async)
    expect(reply.status).toBe(202)
    await vi.waitFor(() => expect(agent.applying).toBe(1))
    const mark = agent.calls.length

    expect(await b1.abandon('the lease of b1 ran out')).toBe(1)

    expect(agent.since(mark)).toEqual([])
    expect((await store.getInstance('i2'))?.state).toBe('updating')
    expect(await operationOf('i2')).toMatchObject({state: 'in progress', owner: 'b1'})

    agent.slow = false
    expect(await b2.resume(['b1'])).toBe(1)
    await b2.drain(5000)
    expect((await store.getInstance('i2'))?.state).toBe('ready')
    expect((await store.getOperation(reply.body.operation as string))?.state).not.toBe('in progress')
  })

  it('a DELETE still stops a provision with its cleanup: only a lost lease skips it', async () => {
    agent.slow = true
    const reply = await b1.provision('i3', {...KV, organization_guid: 'o', space_guid: 's'}, async)
    await vi.waitFor(() => expect(agent.applying).toBe(1))
    agent.slow = false
    expect((await b1.deprovision('i3', KV, async)).status).toBe(200)
    expect(agent.calls.some((c) => c.method === 'remove' && c.instanceId === 'i3')).toBe(true)
    expect(await store.getInstance('i3')).toBeUndefined()
    expect((await store.getOperation(reply.body.operation as string))?.state).toBe('failed')
  })
})
