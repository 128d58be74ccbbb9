import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {Host} from '../../src/core/types.js'
import {isUniqueViolation, openStore, PortRangeFullError, type Store} from '../../src/store/index.js'

const hostRecord = (id: string, portMin: number, portMax: number) => ({
  id,
  serviceAddress: '127.0.0.1',
  bindAddress: '127.0.0.1',
  agentUrl: null,
  portMin,
  portMax,
  zone: null,
  labels: {},
  facts: null,
})

describe('the port allocator in the store', () => {
  let store: Store
  let a: Host
  let b: Host
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    a = await store.upsertHost(hostRecord('a', 41000, 41003))
    b = await store.upsertHost(hostRecord('b', 41000, 41003))
  })
  afterEach(async () => {
    await store.close()
  })

  it('hands out the lowest free port of the host range, and again after one is released', async () => {
    expect(await store.allocatePorts(a, 'i1', [6379])).toEqual([{container: 6379, host: 41000, protocol: 'tcp'}])
    expect((await store.allocatePorts(a, 'i2', [5432]))[0].host).toBe(41001)
    expect((await store.allocatePorts(a, 'i3', [80, 443])).map((m) => m.host)).toEqual([41002, 41003])
    await store.releasePorts('a', [41001])
    expect((await store.allocatePorts(a, 'i4', [6379]))[0].host).toBe(41001)
    expect(await store.portsOf('i3')).toEqual([
      {hostId: 'a', port: 41002, containerPort: 80},
      {hostId: 'a', port: 41003, containerPort: 443},
    ])
  })

  it('a port is unique per host: another host starts at the bottom of its own range', async () => {
    await store.allocatePorts(a, 'i1', [6379])
    expect((await store.allocatePorts(b, 'i2', [6379]))[0].host).toBe(41000)
    expect(await store.usedPortsByHost()).toEqual(
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
    )
  })

  it('a second claim on a taken port fails as a unique violation instead of double-booking', async () => {
    await store.allocatePorts(a, 'i1', [6379])
    const error = await store.db
      .insertInto('ports')
      .values({host_id: 'a', port: 41000, instance_id: 'i2', container_port: 6379})
      .execute()
      .catch((e: unknown) => e)
    expect(isUniqueViolation(error)).toBe(true)
  })

  it('two allocations racing outside a transaction never double-book: the loser fails on the primary key', async () => {
    const outcomes = await Promise.allSettled([
      store.allocatePorts(a, 'i1', [6379]),
      store.allocatePorts(a, 'i2', [6379]),
    ])
    const lost = outcomes.filter((o) => o.status === 'rejected')
    expect(lost).toHaveLength(1)
    expect(isUniqueViolation((lost[0] as PromiseRejectedResult).reason)).toBe(true)
    expect(await store.usedPortsByHost()).toEqual(new Map([['a', 1]]))
  })

  it('allocations in transactions take turns and get distinct ports', async () => {
    const mapped = await Promise.all(
      ['i1', 'i2', 'i3'].map((id) => store.transaction((tx) => tx.allocatePorts(a, id, [6379]))),
    )
    expect(mapped.map((m) => m[0].host).sort()).toEqual([41000, 41001, 41002])
  })

  it('ports the caller excludes (an instance moving off them) are skipped though free', async () => {
    expect((await store.allocatePorts(a, 'i1', [6379], [41000, 41001]))[0].host).toBe(41002)
  })

  it('a range too full for every port of the instance allocates none of them and says which range', async () => {
    await store.allocatePorts(a, 'i1', [1, 2, 3])
    const error = await store.transaction((tx) => tx.allocatePorts(a, 'i2', [6379, 6380])).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PortRangeFullError)
    expect((error as Error).message).toBe('no free host port on host a: the range 41000-41003 is full')
    expect(await store.portsOf('i2')).toEqual([])
    expect(await store.usedPortsByHost()).toEqual(new Map([['a', 3]]))
  })

  it('deleting an instance gives its ports back', async () => {
    await store.allocatePorts(a, 'gone', [6379])
    await store.deleteInstance('gone')
    expect((await store.allocatePorts(a, 'next', [6379]))[0].host).toBe(41000)
  })
})
