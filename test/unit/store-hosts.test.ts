import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {openStore, type Store} from '../../src/store/index.js'

const KEEPALIVE = 1000

const registration = (id: string) => ({
  id,
  serviceAddress: '10.0.0.2',
  bindAddress: '10.0.0.2',
  agentUrl: `http://${id}:9997`,
  portMin: 40000,
  portMax: 40010,
  zone: null,
  labels: {},
  facts: null,
})

describe('host liveness in the store: the one heartbeat path', () => {
  let store: Store
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
  })
  afterEach(async () => {
    await store.close()
  })

  it('a beat from a host that never registered changes nothing and says unknown', async () => {
    expect(await store.heartbeatHost('stranger', null)).toBe('unknown')
    expect(await store.listHosts()).toEqual([])
  })

  it('a beat keeps the facts it carries, and a beat without facts keeps the last ones', async () => {
    await store.upsertHost(registration('h1'), 1000)
    const facts = {engineVersion: '27.0', containers: 3} as never
    expect(await store.heartbeatHost('h1', facts, 2000)).toBe('alive')
    expect(await store.heartbeatHost('h1', null, 3000)).toBe('alive')
    const host = await store.getHost('h1')
    expect(host?.facts).toEqual(facts)
    expect(host?.lastHeartbeat).toBe(3000)
  })

  it('a host marked dead comes back with its next beat, and only one of two racing beats reports the revival', async () => {
    await store.upsertHost(registration('h1'), 0)
    expect((await store.markDeadHosts(KEEPALIVE, 3, 10 * KEEPALIVE)).map((h) => h.id)).toEqual(['h1'])
    expect((await store.getHost('h1'))?.status).toBe('dead')
    const beats = await Promise.all([
      store.heartbeatHost('h1', null, 11 * KEEPALIVE),
      store.heartbeatHost('h1', null, 11 * KEEPALIVE),
    ])
    expect(beats.sort()).toEqual(['alive', 'revived'])
    expect((await store.getHost('h1'))?.status).toBe('alive')
  })

  it('a revival tells how long the host was silent, from its last beat before this one', async () => {
    await store.upsertHost(registration('h1'), 0)
    await store.markDeadHosts(KEEPALIVE, 3, 10 * KEEPALIVE)
    const silent: number[] = []
    expect(await store.heartbeatHost('h1', null, 12 * KEEPALIVE, (ms) => silent.push(ms))).toBe('revived')
    expect(await store.heartbeatHost('h1', null, 13 * KEEPALIVE, (ms) => silent.push(ms))).toBe('alive')
    expect(silent).toEqual([12 * KEEPALIVE])
  })

  it('the sweeper marks only the hosts late by their own keepalive, and each once', async () => {
    await store.upsertHost({...registration('slow'), keepaliveMs: 10 * KEEPALIVE}, 0)
    await store.upsertHost(registration('fast'), 0)
    expect((await store.markDeadHosts(KEEPALIVE, 3, 5 * KEEPALIVE)).map((h) => h.id)).toEqual(['fast'])
    expect((await store.markDeadHosts(KEEPALIVE, 3, 5 * KEEPALIVE)).map((h) => h.id)).toEqual([])
    expect((await store.getHost('slow'))?.status).toBe('alive')
  })

  it('re-registering keeps the drain the operator set', async () => {
    await store.upsertHost(registration('h1'))
    expect((await store.setHostDrained('h1', true))?.drained).toBe(true)
    expect((await store.upsertHost({...registration('h1'), agentUrl: 'http://h1:9998'})).drained).toBe(true)
  })
})
