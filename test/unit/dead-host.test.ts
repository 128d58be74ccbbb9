import {setTimeout as sleep} from 'node:timers/promises'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

const KEEPALIVE = 200

const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const async: RequestMeta = {...sync, acceptsIncomplete: true}
const ids = KV
const catalog = kvCatalog()

describe('requests for an instance whose host stopped heartbeating', () => {
  let store: Store
  let agent: FakeAgent
  let provisioner: Provisioner
  let binding: {username: string; password: string}
  // The host's agent: it heartbeats while alive.
  let alive = true
  let beats: NodeJS.Timeout

  const killHost = async () => {
    alive = false
    await sleep(20) // a beat already on its way lands first
    // What the sweeper does after three missed beats.
    expect(await store.markDeadHosts(KEEPALIVE, 3, Date.now() + 10 * KEEPALIVE)).toHaveLength(1)
  }
  const reviveHost = async () => {
    alive = true
    await store.heartbeatHost('h1', null)
  }
  const settled = async (operation: string) => {
    for (let i = 0; i < 200; i++) {
      const op = await store.getOperation(operation)
      if (op && op.state !== 'in progress') return op
      await sleep(20)
    }
    throw new Error(`operation ${operation} still in progress`)
  }

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
    alive = true
    beats = setInterval(() => void (alive && store.heartbeatHost('h1', null)), KEEPALIVE)
    agent = new FakeAgent()
    provisioner = new Provisioner({
      store,
      catalog,
      agentFor: () => agent,
      events: new BrokerEvents(),
      log: createLogger('silent'),
      brokerId: 'b1',
      keepaliveMs: KEEPALIVE,
    })
    expect((await provisioner.provision('i1', {...ids, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(
      201,
    )
    // drain() waits for the spare users made in the background too: every test starts with a full stock.
    await provisioner.drain(5000)
    const bound = await provisioner.bind('i1', 'b1', {...ids}, sync)
    expect(bound.status).toBe(201)
    binding = bound.body.credentials as {username: string; password: string}
    await provisioner.drain(5000)
  })
  afterEach(async () => {
    clearInterval(beats)
    await provisioner.drain(5000)
    await store.close()
  })

  it('a sync bind fails fast with 503 naming the host, and records nothing', async () => {
    await killHost()
    const mark = agent.calls.length
    await expect(provisioner.bind('i1', 'b2', {...ids}, sync)).rejects.toMatchObject({
      status: 503,
      message: expect.stringMatching(/host h1 is dead/),
    })
    expect(await store.getBinding('b2')).toBeUndefined()
    expect(agent.since(mark)).toEqual([])
  })

  it('an async bind answers 202, waits for the host, and runs the bind hook once it heartbeats again (a spare user too: the volume may be new)', async () => {
    await killHost()
    const mark = agent.calls.length
    const reply = await provisioner.bind('i1', 'b2', {...ids}, async)
    expect(reply.status).toBe(202)
    const operation = reply.body.operation as string
    await sleep(300)
    const waiting = await store.getOperation(operation)
    expect(waiting).toMatchObject({
      state: 'in progress',
      description: expect.stringMatching(/bind waiting for host h1, dead for \d+ s/),
    })
    expect(agent.since(mark)).toEqual([])
    await reviveHost()
    expect(await settled(operation)).toMatchObject({state: 'succeeded'})
    const made = (await store.getBinding('b2'))!
    expect(made.state).toBe('bound')
    expect(agent.since(mark)).toMatchObject([
      {method: 'exec', instanceId: 'i1', command: ['/dbroker/bind'], env: {BIND_USERNAME: made.credentials.username}},
    ])
  })

  it('a host that comes back wiped: a waiting bind runs its hook only once the agent re-made the container', async () => {
    await killHost()
    const reply = await provisioner.bind('i1', 'b2', {...ids}, async)
    const spec = agent.running.get('i1')!
    agent.running.clear()
    const mark = agent.calls.length
    const user = (await store.getBinding('b2'))!.credentials.username
    const hooksOfB2 = () => agent.since(mark).filter((c) => c.env?.BIND_USERNAME === user)
    await reviveHost()
    await sleep(3 * KEEPALIVE)
    expect(await store.getOperation(reply.body.operation as string)).toMatchObject({state: 'in progress'})
    expect(hooksOfB2()).toEqual([])
    // What the agent's converge pass does.
    await agent.apply(spec)
    expect(await settled(reply.body.operation as string)).toMatchObject({state: 'succeeded'})
    expect(hooksOfB2()).toMatchObject([{method: 'exec', command: ['/dbroker/bind']}])
  })

  it('async update, unbind and deprovision wait for the host too, and go on when it is back', async () => {
    await killHost()
    const mark = agent.calls.length
    const update = await provisioner.update('i1', {service_id: KV.service_id, parameters: {policy: 'lru'}}, async)
    expect(update.status).toBe(202)
    const unbind = await provisioner.unbind('i1', 'b1', {...ids}, async)
    expect(unbind.status).toBe(202)
    await sleep(300)
    expect(agent.since(mark)).toEqual([])
    await reviveHost()
    expect(await settled(update.body.operation as string)).toMatchObject({state: 'succeeded'})
    expect(await settled(unbind.body.operation as string)).toMatchObject({state: 'succeeded'})
    expect((await store.getInstance('i1'))?.spec.env.KV_POLICY).toBe('lru')
    expect(await store.getBinding('b1')).toBeUndefined()

    await killHost()
    const deprovision = await provisioner.deprovision('i1', {...ids}, async)
    expect(deprovision.status).toBe(202)
    await reviveHost()
    expect(await settled(deprovision.body.operation as string)).toMatchObject({state: 'succeeded'})
    // Besides the bind hooks the update replays, in case the host came back wiped.
    expect(
      agent
        .since(mark)
        .filter((c) => c.command?.[0] !== '/dbroker/bind')
        .map((c) => [c.method, c.command?.[0]]),
    ).toEqual([
      ['apply', undefined],
      ['exec', '/dbroker/unbind'],
      ['remove', undefined],
    ])
    expect(await store.getInstance('i1')).toBeUndefined()
  })

  it('an update that waited for a host that comes back wiped restores the binding users in the container it makes', async () => {
    await killHost()
    const update = await provisioner.update('i1', {service_id: KV.service_id, parameters: {policy: 'lru'}}, async)
    agent.running.clear()
    const mark = agent.calls.length
    await reviveHost()
    expect(await settled(update.body.operation as string)).toMatchObject({state: 'succeeded'})
    const after = agent.since(mark)
    expect(after[0]).toMatchObject({method: 'apply', instanceId: 'i1'})
    expect(after.filter((c) => c.env?.BIND_USERNAME === binding.username)).toMatchObject([
      {method: 'exec', command: ['/dbroker/bind']},
    ])
  })

  it("when the host does not come back within the plan's maximum_polling_duration, the operation fails naming the host and nothing changed", async () => {
    await killHost()
    const mark = agent.calls.length
    const started = Date.now()
    const [bind, unbind, update] = await Promise.all([
      provisioner.bind('i1', 'b2', {...ids}, async),
      provisioner.unbind('i1', 'b1', {...ids}, async),
      provisioner.update('i1', {service_id: KV.service_id, parameters: {policy: 'lru'}}, async),
    ])
    const outcomes = await Promise.all([bind, unbind, update].map((r) => settled(r.body.operation as string)))
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    for (const op of outcomes)
      expect(op).toMatchObject({
        state: 'failed',
        description: expect.stringMatching(/host h1 did not come back within 1 s/),
      })
    expect(agent.since(mark)).toEqual([])
    expect(await store.getBinding('b2')).toBeUndefined()
    expect((await store.getBinding('b1'))?.state).toBe('bound')
    expect((await store.getInstance('i1'))?.state).toBe('ready')
    const deprovision = await provisioner.deprovision('i1', {...ids}, async)
    expect(await settled(deprovision.body.operation as string)).toMatchObject({
      state: 'failed',
      description: expect.stringMatching(/host h1/),
    })
    expect((await store.getInstance('i1'))?.state).toBe('ready')
  })

  it('replaying bindings after a container was recreated runs the bind hook for each bound binding (and spare user) with its own credentials', async () => {
    await provisioner.bind('i1', 'b2', {...ids}, sync)
    await provisioner.drain(5000)
    const users = [
      ...(await store.listBindings('i1')).map((b) => b.credentials),
      ...(await store.spareUsers('i1')),
    ].map((u) => ({BIND_USERNAME: u.username, BIND_PASSWORD: u.password}))
    expect(users).toHaveLength(4)
    const mark = agent.calls.length
    expect(await provisioner.replayBindings('i1')).toBe(2)
    const replayed = agent.since(mark)
    expect(replayed.map((c) => [c.method, c.command])).toEqual(Array(4).fill(['exec', ['/dbroker/bind']]))
    expect(replayed.map((c) => c.env)).toEqual(expect.arrayContaining(users))
    expect(replayed.map((c) => c.env)).toContainEqual({
      BIND_USERNAME: binding.username,
      BIND_PASSWORD: binding.password,
    })
    // Another host's report about this instance, or an unknown instance, replays nothing.
    expect(await provisioner.replayBindings('i1', 'h2')).toBe(0)
    expect(await provisioner.replayBindings('nope')).toBe(0)
  })

  it('a binding unbound while its user is being replayed is revoked again, not resurrected', async () => {
    const mark = agent.calls.length
    // The unbind lands (state moves on, its hook runs) while the replayed bind hook is still running.
    agent.onExec = async (call) => {
      if (call.command?.[0] !== '/dbroker/bind' || call.env?.BIND_USERNAME !== binding.username) return
      agent.onExec = undefined
      await store.transitionBinding('b1', ['bound'], 'unbinding')
    }
    expect(await provisioner.replayBindings('i1')).toBe(0)
    expect(
      agent
        .since(mark)
        .filter((c) => c.env?.BIND_USERNAME === binding.username)
        .map((c) => [c.command, c.env?.BIND_USERNAME]),
    ).toEqual([
      [['/dbroker/bind'], binding.username],
      [['/dbroker/unbind'], binding.username],
    ])
  })
})
