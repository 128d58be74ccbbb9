import {describe, expect, it} from 'vitest'

import {bindingsTable} from '../../src/cli/instance-view.js'
import {formatRemaining} from '../../src/core/format.js'

const H = 3_600_000
const M = 60_000

describe('time left on a binding, as bindings and show print it', () => {
  it('two units, the smaller rounded to nearest: a 4 h ttl just made says 4h, a minute on 3h59m', () => {
    expect(formatRemaining(4 * H - 50)).toBe('4h')
    expect(formatRemaining(4 * H - M)).toBe('3h59m')
    expect(formatRemaining(90 * M)).toBe('1h30m')
    expect(formatRemaining(2 * 86_400_000 + 5 * H)).toBe('2d5h')
    expect(formatRemaining(59 * M + 59_600)).toBe('1h')
    expect(formatRemaining(10 * M + 30_000)).toBe('10m30s')
    expect(formatRemaining(42_400)).toBe('42s')
    expect(formatRemaining(null)).toBe('-')
  })

  it('the bindings table of a binding made with --ttl 4h a moment ago', () => {
    const now = Date.now()
    const table = bindingsTable([
      {
        instance: 'redis',
        id: 'b1',
        state: 'bound',
        appGuid: null,
        createdAt: now - 200,
        expiresAt: now - 200 + 4 * H,
      } as Parameters<typeof bindingsTable>[0][number],
    ])
    expect(table).toMatch(/EXPIRES IN/)
    expect(table).toMatch(/\s4h\n?$/m)
    expect(table).not.toMatch(/\s3h$/m)
  })
})
