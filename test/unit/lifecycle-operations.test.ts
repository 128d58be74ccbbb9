import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {type Clock, lifecycleContext} from '../../src/broker/lifecycle/context.js'
import {OperationRunner} from '../../src/broker/lifecycle/operations.js'
import {createLogger} from '../../src/core/log.js'
import type {Operation} from '../../src/core/types.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent, kvCatalog} from '../helpers/fake-agent.js'

/** A clock that moves only when the code under test sleeps, and remembers each pause. */
class StepClock implements Clock {
  at = 1_000_000
  pauses: number[] = []
  onSleep?: () => Promise<void>
  now = () => this.at
  sleep = async (ms: number) => {
    this.pauses.push(ms)
    this.at += ms
    await this.onSleep?.()
  }
}

describe('waiting for an operation (sync requests)', () => {
  let store: Store
  let clock: StepClock
  let runner: OperationRunner
  const meta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    clock = new StepClock()
    const agent = new FakeAgent()
    const ctx = lifecycleContext({
      store,
      catalog: kvCatalog(),
      agentFor: () => agent,
      events: new BrokerEvents(),
      log: createLogger('silent'),
      brokerId: 'b1',
      keepaliveMs: 1000,
      clock,
    })
    runner = new OperationRunner(ctx)
  })
  afterEach(() => store.close())

  /** An operation in progress that another broker (b2) holds. */
  const elsewhere = async (): Promise<Operation> => {
    const op = runner.newOperation('provision', 'i1', null, '{}', meta)
    await store.insertOperation(op, 'b2')
    return op
  }

  it("polls another broker's operation with growing pauses and gives up at the deadline with a 500 that says how to wait", async () => {
    const op = await elsewhere()
    const deadline = clock.now() + 60_000
    await expect(runner.settle(op.id, deadline)).rejects.toMatchObject({
      status: 500,
      message: expect.stringMatching(/still in progress; send accepts_incomplete=true and poll last_operation/),
    })
    expect(clock.now()).toBe(deadline)
    expect(clock.pauses.slice(0, 6)).toEqual([50, 100, 200, 400, 800, 1600])
    expect(Math.max(...clock.pauses)).toBe(2000)
    // One minute of waiting costs about 35 store reads, not 600.
    expect(clock.pauses.length).toBeLessThan(40)
  })

  it('returns as soon as the other broker records the end', async () => {
    const op = await elsewhere()
    clock.onSleep = async () => {
      if (clock.pauses.length === 3) await store.finishOperation(op.id, 'succeeded', 'the instance is ready', 'b2')
    }
    expect(await runner.settle(op.id, clock.now() + 60_000)).toMatchObject({
      state: 'succeeded',
      description: 'the instance is ready',
    })
    expect(clock.pauses).toHaveLength(3)
  })

  it('an operation that is not recorded is a clear 500, not a crash', async () => {
    await expect(runner.settle('provision-nope', clock.now() + 60_000)).rejects.toMatchObject({
      status: 500,
      message: 'operation provision-nope is not recorded',
    })
    expect(clock.pauses).toEqual([])
  })

  it('a sync request on an operation running here gets its outcome; a failure is a 500 with its description', async () => {
    const op = runner.newOperation('bind', 'i1', 'b1', '{}', meta)
    await store.insertOperation(op, 'b1')
    runner.start('b:b1', op, async () => {
      throw new Error('the hook exited with 1')
    })
    await expect(runner.outcome(op, () => ({status: 201, body: {}}))).rejects.toMatchObject({
      status: 500,
      message: 'bind failed: the hook exited with 1',
    })
    expect(await store.getOperation(op.id)).toMatchObject({state: 'failed'})
  })
})
