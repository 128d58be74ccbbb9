import {DbrokerError, EngineError, LogsUnavailableError, OsbError, UsageError} from './errors.js'

/**
 * dbroker's error classes and the HTTP status each answers with, one table
 * both ways: the broker's and the agent API's error handlers take the status
 * from it, the HTTP agent client makes the class back from the answer. Most
 * specific first: a subclass matches before its parent.
 */
export const ERROR_STATUSES = [
  {name: 'LogsUnavailableError', status: 501, type: LogsUnavailableError},
  {name: 'EngineError', status: 502, type: EngineError},
  {name: 'UsageError', status: 400, type: UsageError},
] as const

/** Every error body of dbroker's APIs: `error` names the class (or the OSB error code), `hint` says what to try. */
export interface ErrorBody {
  error?: string
  description: string
  hint?: string
}

/** The row of an error, or undefined for one the table doesn't know (a bug, or an expected failure without its own status). */
export function errorStatus(error: unknown): (typeof ERROR_STATUSES)[number] | undefined {
  return ERROR_STATUSES.find((row) => error instanceof row.type)
}

/** A status an error carries itself: an OsbError's, or a fastify client error's (bad JSON, validation, too large). */
export function ownStatus(error: unknown): number | undefined {
  if (error instanceof OsbError) return error.status
  const status = (error as {statusCode?: number} | undefined)?.statusCode
  return status !== undefined && status >= 400 && status < 500 ? status : undefined
}

/** What a peer's error answer was, as the class that made it: by the name it sent, else by its status. */
export function errorFromAnswer(status: number, body: unknown, fallback: string): DbrokerError {
  const answer = (parsedBody(body) ?? {}) as Partial<ErrorBody> & {message?: string}
  // `message`: agents from before the shared body shape.
  const message = answer.description ?? answer.message ?? fallback
  const row = ERROR_STATUSES.find((r) => r.name === answer.error) ?? ERROR_STATUSES.find((r) => r.status === status)
  return row ? new row.type(message, answer.hint) : new DbrokerError(message, answer.hint)
}

function parsedBody(body: unknown): unknown {
  if (typeof body !== 'string') return body
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}
