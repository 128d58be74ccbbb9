import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {Operation} from '../../src/core/types.js'
import {openStore, type Store} from '../../src/store/index.js'

const operation = (id: string): Operation => ({
  id,
  kind: 'provision',
  instanceId: 'i-1',
  bindingId: null,
  state: 'in progress',
  description: 'provision in progress',
  requestKey: '{}',
  originatingIdentity: null,
  requestIdentity: null,
  createdAt: 1,
  updatedAt: 1,
})

describe('who may finish an operation', () => {
  let store: Store
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
  })
  afterEach(async () => {
    await store.close()
  })

  it('the broker that holds it records the outcome', async () => {
    await store.insertOperation(operation('op-1'), 'broker-a')
    expect(await store.finishOperation('op-1', 'succeeded', 'done', 'broker-a')).toBe(true)
    expect((await store.getOperation('op-1'))?.state).toBe('succeeded')
  })

  it('a broker whose operation another took over cannot overwrite the new owner’s outcome', async () => {
    await store.insertOperation(operation('op-2'), 'broker-a')
    expect(await store.claimOperation('op-2', 'broker-a', 'broker-b')).toBe(true)
    expect(await store.finishOperation('op-2', 'succeeded', 'stale success', 'broker-a')).toBe(false)
    expect((await store.getOperation('op-2'))?.state).toBe('in progress')
    expect(await store.finishOperation('op-2', 'failed', 'the real outcome', 'broker-b')).toBe(true)
    expect((await store.getOperation('op-2'))?.description).toBe('the real outcome')
  })

  it('two brokers taking over the same stopped broker’s operation: only the first gets it', async () => {
    await store.insertOperation(operation('op-3'), 'broker-a')
    const claims = await Promise.all([
      store.claimOperation('op-3', 'broker-a', 'broker-b'),
      store.claimOperation('op-3', 'broker-a', 'broker-c'),
    ])
    expect(claims.sort()).toEqual([false, true])
    const owner = (await store.operationsInProgress()).find((op) => op.id === 'op-3')?.owner
    expect(['broker-b', 'broker-c']).toContain(owner)
    expect(
      await store.finishOperation('op-3', 'succeeded', 'done', owner === 'broker-b' ? 'broker-c' : 'broker-b'),
    ).toBe(false)
  })

  it('an operation that ended cannot be claimed, and an unowned one only as unowned', async () => {
    await store.insertOperation(operation('op-4'), 'broker-a')
    await store.finishOperation('op-4', 'failed', 'gave up', 'broker-a')
    expect(await store.claimOperation('op-4', 'broker-a', 'broker-b')).toBe(false)
    await store.insertOperation(operation('op-5'), null)
    expect(await store.claimOperation('op-5', 'broker-a', 'broker-b')).toBe(false)
    expect(await store.claimOperation('op-5', null, 'broker-b')).toBe(true)
    expect(await store.finishOperation('op-5', 'succeeded', 'done', 'broker-b')).toBe(true)
  })

  it('the request key is sealed in the row and reads back as it was', async () => {
    await store.insertOperation(
      {...operation('op-6'), requestKey: '{"parameters":{"token":"RequestKeySecret42"}}'},
      'broker-a',
    )
    const row = await store.db
      .selectFrom('operations')
      .select('request_key')
      .where('id', '=', 'op-6')
      .executeTakeFirstOrThrow()
    expect(row.request_key).not.toContain('RequestKeySecret42')
    expect((await store.getOperation('op-6'))?.requestKey).toBe('{"parameters":{"token":"RequestKeySecret42"}}')
  })
})
