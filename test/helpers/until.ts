import {errorMessage} from '../../src/core/errors.js'

export interface UntilOptions {
  timeoutMs?: number
  /** Pause between probes. */
  everyMs?: number
}

type Probe<T> = () => T | undefined | null | false | Promise<T | undefined | null | false>

/**
 * Probes until it answers a truthy value and returns that value. A probe that throws
 * counts as "not yet"; on timeout its last error is part of the message, so a failing
 * wait says what it last saw instead of only that it waited.
 */
export async function until<T>(what: string, probe: Probe<T>, options: UntilOptions | number = {}): Promise<T> {
  const {timeoutMs = 30_000, everyMs = 100} = typeof options === 'number' ? {timeoutMs: options} : options
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const seen = lastError === undefined ? '' : ` (last error: ${errorMessage(lastError)})`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}`)
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
