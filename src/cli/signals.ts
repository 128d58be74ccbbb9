import type {Logger} from '../core/log.js'

/** Resolves on the first SIGINT or SIGTERM; a server command then closes what it runs. */
export function untilStopped(log: Logger, what: string): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log.info(`${signal}: stopping the ${what}`)
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
