import {describe, expect, it} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {placeInstance} from '../../src/broker/placement.js'
import {describeUnreachable, isUnreachableFailure, Reachability, reachableStore} from '../../src/broker/reachability.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {AgentUnreachableError} from '../../src/client/agent-http.js'
import type {ChangeEvent} from '../../src/core/admin.js'
import {createLogger} from '../../src/core/log.js'
import type {Host} from '../../src/core/types.js'
import type {Store} from '../../src/store/index.js'

const KEEPALIVE = 1000
const redis = loadCatalog().plan('9224c565-e657-4b4e-8048-c400aea5257c')!.plan

function harness() {
  let now = 1_000_000
  const lines: string[] = []
  const changes: ChangeEvent[] = []
  const events = new BrokerEvents()
  events.on('change', (e) => changes.push(e))
  const reachability = new Reachability({
    events,
    log: createLogger('info', (l) => lines.push(l.replace(/^\S+ /, '').trim())),
    now: () => now,
  })
  const host = (id: string, extra: Partial<Host> = {}): Host => ({
    id,
    serviceAddress: '10.0.0.1',
    bindAddress: '10.0.0.1',
    agentUrl: `http://10.0.0.1:9997`,
    portMin: 41000,
    portMax: 41009,
    status: 'alive',
    drained: false,
    zone: null,
    labels: {},
    facts: null,
    lastHeartbeat: now,
    capacity: {maxContainers: null, memoryBytes: null},
    keepaliveMs: null,
    ...extra,
  })
  return {reachability, lines, changes, host, advance: (ms: number) => (now += ms), now: () => now}
}

describe('the host state of both directions', () => {
  it('a failed call marks a heartbeating host unreachable (out) at once, logged and announced once; an answer brings it back with the duration', () => {
    const {reachability, lines, changes, host, advance} = harness()
    const h1 = host('h1')
    expect(reachability.overlay(h1, KEEPALIVE)).toBe(h1)
    reachability.reached('h1', 'could not connect to http://10.0.0.1:9997 within 3000 ms')
    reachability.reached('h1', 'could not connect to http://10.0.0.1:9997 within 3000 ms')
    const seen = reachability.overlay(h1, KEEPALIVE)
    expect(seen.status).toBe('unreachable')
    expect(seen.reachability).toMatchObject({
      direction: 'out',
      reason: 'could not connect to http://10.0.0.1:9997 within 3000 ms',
    })
    advance(42_000)
    expect(
      describeUnreachable(
        reachability.overlay({...h1, lastHeartbeat: h1.lastHeartbeat + 42_000}, KEEPALIVE),
        h1.lastHeartbeat + 42_000,
      ),
    ).toBe(
      'host h1 is unreachable for 42 s (broker -> agent: could not connect to http://10.0.0.1:9997 within 3000 ms)',
    )
    reachability.reached('h1')
    reachability.reached('h1')
    expect(lines).toEqual([
      'warn  host h1 is unreachable from the broker (broker -> agent): could not connect to http://10.0.0.1:9997 within 3000 ms; no new instances go there and sync requests for it answer 503 until it answers',
      'info  host h1 is reachable from the broker again after 42 s (broker -> agent)',
    ])
    expect(changes.map((c) => [c.id, c.action, c.state])).toEqual([
      ['h1', 'unreachable', 'unreachable'],
      ['h1', 'back', 'alive'],
    ])
  })

  it('a silent host is dead (in); silent and failing calls is dead (both)', () => {
    const {reachability, host, advance} = harness()
    const h1 = host('h1')
    advance(3500)
    expect(reachability.overlay(h1, KEEPALIVE)).toMatchObject({
      status: 'dead',
      reachability: {direction: 'in', reason: 'no heartbeat for 4 s'},
    })
    reachability.reached('h1', 'connect ECONNREFUSED')
    expect(reachability.overlay(h1, KEEPALIVE)).toMatchObject({
      status: 'dead',
      reachability: {direction: 'both', reason: 'no heartbeat for 4 s; broker -> agent: connect ECONNREFUSED'},
    })
  })

  it('placement skips a host unreachable in either direction and says why when none is left', () => {
    const {reachability, host, now} = harness()
    reachability.reached('h1', 'could not connect')
    const hosts = [host('h1'), host('h2', {lastHeartbeat: 0}), host('h3')].map((h) =>
      reachability.overlay(h, KEEPALIVE),
    )
    const place = (list: Host[]) =>
      placeInstance(list, new Map(), new Map(), redis, {strategy: 'spread', keepaliveMs: KEEPALIVE, now: now()})
    expect(place(hosts).id).toBe('h3')
    expect(() => place(hosts.slice(0, 2))).toThrow(/h1: unreachable \(broker -> agent\), h2: dead/)
  })

  it('the store seen by the provisioner overlays every host it returns, inside transactions too', async () => {
    const {reachability, host} = harness()
    reachability.reached('h1', 'could not connect')
    const hosts = [host('h1'), host('h2')]
    const tx = {listHosts: async () => hosts}
    const raw = {
      getHost: async (id: string) => hosts.find((h) => h.id === id),
      listHosts: async () => hosts,
      transaction: async <T>(work: (t: typeof tx) => Promise<T>) => work(tx),
      other: () => 'kept',
    }
    const store = reachableStore(raw as unknown as Store, reachability, KEEPALIVE)
    expect((await store.getHost('h1'))?.status).toBe('unreachable')
    expect((await store.listHosts()).map((h) => h.status)).toEqual(['unreachable', 'alive'])
    expect(await store.transaction(async (t) => (await t.listHosts()).map((h) => h.status))).toEqual([
      'unreachable',
      'alive',
    ])
    expect((store as unknown as typeof raw).other()).toBe('kept')
  })

  it('a sync request failed by an unreachable agent is told apart from other failures', () => {
    expect(isUnreachableFailure(`bind failed: ${new AgentUnreachableError('h1', 'could not connect').message}`)).toBe(
      true,
    )
    expect(isUnreachableFailure('bind failed: the hook exited 1')).toBe(false)
  })
})
