import {formatBytes} from './format.js'

/** Where a container's output goes: a Docker logging driver and its options (Docker's own names, as strings). */
export interface ContainerLogging {
  driver: string
  options: Record<string, string>
}

/** The drivers that keep the logs on the host themselves: they get a size cap unless they name one. */
export const ROTATED_DRIVERS: readonly string[] = ['json-file', 'local']

/** Sizes in bytes: the engine reads "10m" in decimal units. */
export const DEFAULT_ROTATION = {'max-size': String(10 * 1024 ** 2), 'max-file': '3'}

/** Every container logs somewhere bounded: the engine's `local` driver, at most 3 × 10 MiB. */
export const DEFAULT_LOGGING: ContainerLogging = {driver: 'local', options: DEFAULT_ROTATION}

/** The spelling specs carried before `logging` (a plan's `security.log`). */
export interface LegacyLog {
  driver: 'json-file' | 'local'
  maxSizeBytes: number
  maxFiles: number
}

export const fromLegacyLog = (log: LegacyLog): ContainerLogging => ({
  driver: log.driver,
  options: {'max-size': String(log.maxSizeBytes), 'max-file': String(log.maxFiles)},
})

/** How a spec's container logs: its `logging`, else what a spec stored before it said, else the default. */
export function effectiveLogging(spec: {logging?: ContainerLogging; security?: {log?: LegacyLog}}): ContainerLogging {
  if (spec.logging) return spec.logging
  return spec.security?.log ? fromLegacyLog(spec.security.log) : DEFAULT_LOGGING
}

/** One phrase for a detail line: `local 10M×3`, `syslog to tcp://10.0.0.5:5514`. */
export function describeLogging(logging: ContainerLogging): string {
  const o = logging.options
  if (ROTATED_DRIVERS.includes(logging.driver) && o['max-size'])
    return `${logging.driver} ${formatBytes(Number(o['max-size']))}×${o['max-file'] ?? 1}`
  const address = o['syslog-address'] ?? o['gelf-address'] ?? o['fluentd-address']
  return address ? `${logging.driver} to ${address}` : logging.driver
}
