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
})
