import {describe, expect, it} from 'vitest'

import type {AgentClient} from '../../src/core/agent.js'
import type {Clock} from '../../src/broker/lifecycle/context.js'
import {HostActivity, SETTLE_MS} from '../../src/broker/lifecycle/host-activity.js'

/** A clock whose sleeps end when the test moves time on. */
function manualClock() {
  let now = 1_000
  let sleepers: Array<{until: number; wake: () => void}> = []
  const clock: Clock = {
    now: () => now,
    sleep: (ms) => new Promise<void>((wake) => sleepers.push({until: now + ms, wake})),
  }
  const advance = async (ms: number) => {
    now += ms
    const due = sleepers.filter((s) => s.until <= now)
    sleepers = sleepers.filter((s) => s.until > now)
    for (const s of due) s.wake()
    await new Promise((r) => setImmediate(r))
  }
  return {clock, advance}
}

/** An agent whose applies end when the test says so; every other method is absent. */
function heldAgent() {
  const pending: Array<() => void> = []
  const agent = {
    apply: () => new Promise((resolve) => pending.push(() => resolve({state: 'running'}))),
    inspect: () => 'not counted',
  } as unknown as AgentClient
  return {agent, finishOne: () => pending.shift()?.()}
}

const settled = async (p: Promise<unknown>) => {
  let done = false
  void p.then(() => (done = true))
  await new Promise((r) => setImmediate(r))
  return done
}

describe('applies in flight per host', () => {
  it('holds background work until the last apply of a burst ended and the host stayed quiet', async () => {
    const {clock, advance} = manualClock()
    const activity = new HostActivity(clock)
    const {agent, finishOne} = heldAgent()
    const h1 = activity.watch('h1', agent)
    const first = h1.apply({} as never)
    const second = h1.apply({} as never)
    expect(activity.busy('h1')).toBe(true)
    expect(activity.quiet('h2')).toBe(true)

    const idle = activity.whenIdle('h1')
    finishOne()
    await first
    expect(await settled(idle)).toBe(false)
    finishOne()
    await second
    expect(activity.busy('h1')).toBe(false)
    expect(await settled(idle)).toBe(false)
    await advance(SETTLE_MS - 1)
    expect(await settled(idle)).toBe(false)
    await advance(1)
    expect(await settled(idle)).toBe(true)
  })

  it('waits again when an apply starts during the quiet time', async () => {
    const {clock, advance} = manualClock()
    const activity = new HostActivity(clock)
    const {agent, finishOne} = heldAgent()
    const h1 = activity.watch('h1', agent)
    const first = h1.apply({} as never)
    finishOne()
    await first
    const idle = activity.whenIdle('h1')
    await advance(SETTLE_MS / 2)
    const late = h1.apply({} as never)
    await advance(SETTLE_MS)
    expect(await settled(idle)).toBe(false)
    finishOne()
    await late
    await advance(SETTLE_MS)
    expect(await settled(idle)).toBe(true)
  })

  it('counts an apply that failed as ended, and leaves other methods alone', async () => {
    const {clock, advance} = manualClock()
    const activity = new HostActivity(clock)
    const failing = {apply: () => Promise.reject(new Error('engine said no')), inspect: () => 'not counted'}
    const h1 = activity.watch('h1', failing as unknown as AgentClient)
    await expect(h1.apply({} as never)).rejects.toThrow('engine said no')
    expect((h1 as unknown as {inspect: () => string}).inspect()).toBe('not counted')
    expect(activity.busy('h1')).toBe(false)
    await advance(SETTLE_MS)
    expect(activity.quiet('h1')).toBe(true)
  })
})
