import {getEventListeners} from 'node:events'

import {describe, expect, it} from 'vitest'

import {pause} from '../../src/core/pause.js'

describe('pause', () => {
  it('leaves no abort listener behind once its timer has fired, however often a retry loop calls it', async () => {
    const abort = new AbortController()
    for (let n = 0; n < 20; n++) await pause(1, abort.signal)
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0)
  })

  it('still ends early when the signal aborts', async () => {
    const abort = new AbortController()
    const started = Date.now()
    const waiting = pause(60_000, abort.signal)
    abort.abort()
    await waiting
    expect(Date.now() - started).toBeLessThan(5000)
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0)
  })

  it('does not wait on a signal that is already aborted', async () => {
    const abort = new AbortController()
    abort.abort()
    const started = Date.now()
    await pause(60_000, abort.signal)
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
