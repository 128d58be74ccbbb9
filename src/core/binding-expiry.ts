import {badRequest} from './errors.js'

/** The binding context keys the CLI sends and the broker reads: a ttl after which the broker unbinds, and who made it. */
export const BINDING_TTL_KEY = 'dbroker_ttl_seconds'
export const BINDING_OWNER_KEY = 'dbroker_owner'

/** A ttl longer than this is a mistake (a lasting binding has none). */
export const MAX_BINDING_TTL_SECONDS = 366 * 24 * 3600

/** When a binding made with this context expires: null without a ttl; a ttl that is not a whole number of seconds in range is a 400. */
export function bindingExpiresAt(context: Record<string, unknown> | undefined, now: number): number | null {
  const ttl = context?.[BINDING_TTL_KEY]
  if (ttl === undefined) return null
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_BINDING_TTL_SECONDS)
    throw badRequest(
      `context.${BINDING_TTL_KEY} must be a whole number of seconds from 1 to ${MAX_BINDING_TTL_SECONDS}`,
    )
  return now + ttl * 1000
}
