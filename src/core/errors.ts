/**
 * The error family. `UsageError`s are the user's to fix (exit 2 / HTTP 4xx),
 * `DbrokerError`s are expected failures with a clear message (exit 1),
 * anything else is a bug.
 */
export class DbrokerError extends Error {
  override readonly name: string = 'DbrokerError'
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message)
  }
}

/** A message this process wrote from its own files (a detached `up`'s log): its line breaks are kept, other controls still escaped. */
export class LocalLinesError extends DbrokerError {
  override readonly name: string = 'LocalLinesError'
}

export class UsageError extends DbrokerError {
  override readonly name = 'UsageError'
}

/** A failure talking to a Docker engine. */
export class EngineError extends DbrokerError {
  override readonly name = 'EngineError'
}

/** The engine's logging driver for a container can't be read back (syslog, fluentd, none...). */
export class LogsUnavailableError extends DbrokerError {
  override readonly name = 'LogsUnavailableError'
}

/** An error with an OSB status and optional OSB error code. */
export class OsbError extends Error {
  override readonly name = 'OsbError'
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

export const badRequest = (message: string) => new OsbError(400, message)
export const notFound = (message: string) => new OsbError(404, message)
export const conflict = (message: string) => new OsbError(409, message)
export const gone = () => new OsbError(410, 'gone')
export const concurrencyError = (message: string) => new OsbError(422, message, 'ConcurrencyError')
export const asyncRequired = () =>
  new OsbError(422, 'This service plan requires client support for asynchronous service operations.', 'AsyncRequired')

/** Lets a caller tell a clean failure from a bug without instanceof across packages. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
