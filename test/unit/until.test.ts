import {describe, expect, it} from 'vitest'

import {until} from '../helpers/until.js'

describe('the shared wait', () => {
  it('returns the first truthy answer of the probe', async () => {
    let calls = 0
    const value = await until('the third call', () => (++calls === 3 ? {calls} : undefined), {everyMs: 1})
    expect(value).toEqual({calls: 3})
  })

  it('treats a throwing probe as not yet and names its last error on timeout', async () => {
    let calls = 0
    const waited = until(
      'a service that never answers',
      async () => {
        calls++
        throw new Error(`connection refused #${calls}`)
      },
      {timeoutMs: 30, everyMs: 5},
    )
    await expect(waited).rejects.toThrow(
      /waiting for a service that never answers \(last error: connection refused #\d+\)/,
    )
    expect(calls).toBeGreaterThan(1)
  })
})
