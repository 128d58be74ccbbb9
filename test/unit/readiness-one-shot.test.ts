import {describe, expect, it} from 'vitest'

import {type ContainerCheck, waitReady} from '../../src/agent/readiness.js'
import {containerSpec} from '../helpers/fake-agent.js'

/** A container at the engine boundary that runs for `checksBeforeEnd` looks, then ends with `exitCode`. */
function job(checksBeforeEnd: number, exitCode = 0) {
  const startedAt = Date.now() - 60_000 // long past SETTLE_MS from the first look on
  let checks = 0
  let ended = false
  return {
    get ended() {
      return ended
    },
    check: async (): Promise<ContainerCheck> => {
      checks++
      if (checks <= checksBeforeEnd) return {health: 'none', startedAt, running: true}
      ended = true
      if (exitCode !== 0) throw new Error(`exited with code ${exitCode}`)
      return {health: 'none', done: true}
    },
  }
}

const ctx = (restart: 'no' | 'always', check: () => Promise<ContainerCheck>, timeoutMs = 0) => ({
  spec: containerSpec('i-job', {restart, readiness: {probe: 'none' as const, timeoutMs}}),
  address: '127.0.0.1',
  exec: async () => ({exitCode: 0, output: ''}),
  check,
})

describe('readiness of a container without a probe', () => {
  it('a one-shot job (restart: no) still running after it ran past the settle time is not ready until it ended 0', async () => {
    const running = job(3)
    await waitReady(ctx('no', running.check))
    expect(running.ended).toBe(true)
  })

  it('a one-shot job that ends with another code fails, with that code', async () => {
    await expect(waitReady(ctx('no', job(2, 4).check))).rejects.toThrow(/code 4/)
  })

  it('a one-shot job that outlives its readiness timeout fails, naming the restart policy', async () => {
    await expect(waitReady(ctx('no', job(Number.POSITIVE_INFINITY).check, 1000))).rejects.toThrow(
      /one-shot container \(restart: no\) did not end within .*readiness\.timeout/,
    )
  })

  it('a service (restart: always) is ready once it has run past the settle time, while it runs', async () => {
    const running = job(Number.POSITIVE_INFINITY)
    await waitReady(ctx('always', running.check))
    expect(running.ended).toBe(false)
  })
})
