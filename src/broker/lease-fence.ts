import {AsyncLocalStorage} from 'node:async_hooks'

/** Why an operation stopped on this broker: its lease ran out, and another broker may own the operation now. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError'
}

const running = new AsyncLocalStorage<AbortSignal>()

/** Runs one operation's work so that every fenced call it makes, however deep, checks `signal` first. */
export function runFenced<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  return running.run(signal, work)
}

/** True once the operation was stopped because the broker lost its lease (not by a DELETE, which cleans up). */
export function leaseLost(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof LeaseLostError
}

/**
 * `target` (the store, an agent client) with a check before each method call:
 * called from the work of an operation whose lease was lost, the call rejects
 * with the LeaseLostError instead of touching what another broker owns now —
 * a rollback, a cleanup and a state change alike. Calls from elsewhere pass.
 */
export function fenced<T extends object>(target: T): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        const signal = running.getStore()
        if (signal && leaseLost(signal)) return Promise.reject(signal.reason as Error)
        return (value as (...a: unknown[]) => unknown).apply(object, args)
      }
    },
  })
}
