import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner, type RequestMeta} from '../../src/broker/lifecycle/index.js'
import {Reachability, reachableStore} from '../../src/broker/reachability.js'
import {AgentUnreachableError} from '../../src/client/agent-http.js'
import type {ContainerSpec, ContainerState} from '../../src/core/types.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'

// Generous: a beat missed for three keepalives marks a host dead, and a loaded CI machine stalls this process for long.
const KEEPALIVE = 2000
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const async: RequestMeta = {...sync, acceptsIncomplete: true}
const body = {...KV, organization_guid: 'o', space_guid: 's'}

/** An agent the broker loses while it applies: it makes the container, then the answer never comes back. */
class LostAgent extends FakeAgent {
  lost = true
  constructor(private readonly reachability: Reachability) {
    super()
  }

  override async apply(spec: ContainerSpec): Promise<ContainerState> {
    const state = await super.apply(spec)
    if (!this.lost) return state
    this.reachability.reached('h1', 'no complete answer to http://10.0.0.1:9997 within 900 ms')
    throw new AgentUnreachableError('h1', 'no complete answer to http://10.0.0.1:9997 within 900 ms')
  }

  override async remove(instanceId: string): Promise<void> {
    if (this.lost) throw new AgentUnreachableError('h1', 'could not connect to http://10.0.0.1:9997 within 300 ms')
    return super.remove(instanceId)
  }
}

describe('a provision whose host the broker loses while it applies', () => {
  let raw: Store
  let store: Store
  let reachability: Reachability
  let h1: LostAgent
  let h2: FakeAgent
  let provisioner: Provisioner
  let beats: NodeJS.Timeout
  const lines: string[] = []

  const settled = async (operation: string) => {
    await expect
      .poll(async () => (await raw.getOperation(operation))?.state, {timeout: 5 * KEEPALIVE})
      .not.toBe('in progress')
    return raw.getOperation(operation)
  }
  const portsOf = async (id: string) => (await raw.portsOf(id)).map((p) => p.hostId)
  /** h1 answers again, as its probe would find it. */
  const heal = () => {
    h1.lost = false
    reachability.reached('h1')
  }

  beforeEach(async () => {
    raw = await openStore('sqlite::memory:')
    for (const [id, address] of [
      ['h1', '10.0.0.1'],
      ['h2', '10.0.0.2'],
    ])
      await raw.upsertHost({
        id,
        serviceAddress: address,
        bindAddress: address,
        agentUrl: `http://${address}:9997`,
        portMin: 40000,
        portMax: 40010,
        zone: null,
        labels: {},
        facts: null,
      })
    beats = setInterval(() => {
      void raw.heartbeatHost('h1', null)
      void raw.heartbeatHost('h2', null)
    }, KEEPALIVE / 2)
    const events = new BrokerEvents()
    lines.length = 0
    const log = createLogger('info', (l) => lines.push(l))
    reachability = new Reachability({events, log})
    store = reachableStore(raw, reachability, KEEPALIVE)
    h1 = new LostAgent(reachability)
    h2 = new FakeAgent()
    provisioner = new Provisioner({
      store,
      catalog: kvCatalog(5),
      agentFor: (host) => (host.id === 'h1' ? h1 : h2),
      events,
      log,
      brokerId: 'b1',
      keepaliveMs: KEEPALIVE,
    })
  })
  afterEach(async () => {
    clearInterval(beats)
    await provisioner.drain(5000)
    await raw.close()
  })

  it('sync: it lands on the other host in the same request, its ports move with it, and what h1 made goes once h1 answers', async () => {
    expect((await provisioner.provision('i1', body, sync)).status).toBe(201)
    const instance = (await raw.getInstance('i1'))!
    expect(instance).toMatchObject({hostId: 'h2', state: 'ready'})
    expect(await portsOf('i1')).toEqual(['h2'])
    expect(instance.spec.bindAddress).toBe('10.0.0.2')
    expect(h2.running.has('i1')).toBe(true)
    // h1 made its container before the answer was lost: it stays until h1 can be told.
    expect(h1.running.has('i1')).toBe(true)
    expect(lines.join('\n')).toMatch(/instance i1 could not be made on host h1 .*: placed again on host h2 port 4000\d/)
    heal()
    await expect.poll(() => h1.running.has('i1'), {timeout: 5000}).toBe(false)
    expect(h2.running.has('i1')).toBe(true)
  })

  it('sync with no other host: a 503 naming the host and the direction, no row, no port; h1 cleaned once it answers', async () => {
    await raw.setHostDrained('h2', true)
    await expect(provisioner.provision('i1', body, sync)).rejects.toMatchObject({
      status: 503,
      message: expect.stringMatching(
        /host h1 is unreachable from the broker \(broker -> agent\).*no other host can take the instance/,
      ),
    })
    expect(await raw.getInstance('i1')).toBeUndefined()
    expect(await portsOf('i1')).toEqual([])
    heal()
    await expect.poll(() => h1.running.has('i1'), {timeout: 5000}).toBe(false)
  })

  it('async with no other host: it waits, saying for which host, and completes on h1 once it is back, its container kept', async () => {
    await raw.setHostDrained('h2', true)
    const reply = await provisioner.provision('i1', body, async)
    expect(reply.status).toBe(202)
    const operation = reply.body.operation as string
    await expect
      .poll(async () => (await provisioner.lastOperation('i1', undefined, operation)).body.description, {
        timeout: 5000,
      })
      .toMatch(/provision waiting for host h1, unreachable for \d+ s \(broker -> agent: no complete answer/)
    const made = h1.calls.filter((c) => c.method === 'apply').length
    heal()
    expect(await settled(operation)).toMatchObject({state: 'succeeded'})
    expect(await raw.getInstance('i1')).toMatchObject({hostId: 'h1', state: 'ready'})
    expect(await portsOf('i1')).toEqual(['h1'])
    // Applied again (idempotent), never removed.
    expect(h1.calls.filter((c) => c.method === 'apply')).toHaveLength(made + 1)
    expect(h1.calls.filter((c) => c.method === 'remove')).toEqual([])
  })

  it('async: it moves to the other host once one can take it', async () => {
    await raw.setHostDrained('h2', true)
    const reply = await provisioner.provision('i1', body, async)
    await expect
      .poll(
        async () => (await provisioner.lastOperation('i1', undefined, reply.body.operation as string)).body.description,
        {
          timeout: 5000,
        },
      )
      .toMatch(/provision waiting for host h1/)
    expect((await raw.getInstance('i1'))?.state).toBe('provisioning')
    await raw.setHostDrained('h2', false)
    expect(await settled(reply.body.operation as string)).toMatchObject({state: 'succeeded'})
    expect(await raw.getInstance('i1')).toMatchObject({hostId: 'h2', state: 'ready'})
    expect(await portsOf('i1')).toEqual(['h2'])
  })
})
