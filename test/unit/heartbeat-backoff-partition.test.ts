import {describe, expect, it} from 'vitest'

import {backoffMs, FailureLog} from '../../src/agent/heartbeat.js'
import {createLogger} from '../../src/core/log.js'

describe('heartbeat backoff during a partition', () => {
  it('grows from one keepalive and never exceeds the cap (2 x keepalive by default), whatever the jitter', () => {
    for (const random of [0, 0.5, 0.999]) {
      const waits = Array.from({length: 40}, (_, i) => backoffMs(i + 1, 1000, 2000, random))
      expect(Math.max(...waits)).toBeLessThanOrEqual(2000)
      expect(waits[0]).toBeLessThanOrEqual(1000)
      expect(waits[39]).toBeGreaterThanOrEqual(1500)
    }
  })

  it('logs each distinct failure once, and one summary when the broker answers again', () => {
    const lines: string[] = []
    const log = new FailureLog(createLogger('info', (l) => lines.push(l.replace(/^\S+ /, '').trim())))
    log.failed('connect ETIMEDOUT 10.91.1.1:44100', 2000, 0)
    log.failed('connect ETIMEDOUT 10.91.1.1:44100', 2000, 2000)
    log.failed('connect EHOSTUNREACH 10.91.1.1:44100', 2000, 4000)
    log.failed('connect ETIMEDOUT 10.91.1.1:44101', 2000, 6000)
    log.recovered(9000)
    log.recovered(10_000)
    expect(lines).toEqual([
      'warn  heartbeat failed: connect ETIMEDOUT 10.91.1.1:44100; trying again every 2000 ms or less while it fails',
      'warn  heartbeat failed: connect EHOSTUNREACH 10.91.1.1:44100; trying again every 2000 ms or less while it fails',
      'info  the broker answers again after 4 failed heartbeat(s) over 9 s (3x connect ETIMEDOUT #.#.#.#:#; 1x connect EHOSTUNREACH #.#.#.#:#)',
    ])
  })
})
