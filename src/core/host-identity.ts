import {createHash, createHmac, randomBytes, timingSafeEqual} from 'node:crypto'

/**
 * Each host's own secret. The broker mints it when the operator enrolls the
 * host and keeps only its hash; the agent presents the token to the broker,
 * and the broker answers the agent's API with a credential derived from the
 * hash, which only that host's agent (holding the token) can derive too. No
 * other agent's token opens either side.
 */
export const HOST_TOKEN_PREFIX = 'dbh_'

/** An address change a registered host asked for; it waits for the operator's approval. */
export interface PendingHostChange {
  agentUrl: string
  serviceAddress: string
  bindAddress: string
  requestedAt: number
}

/** An enrolled host, as the admin API lists it (never its token). */
export interface HostEnrollment {
  hostId: string
  enrolledAt: number
  pending: PendingHostChange | null
}

export const HOST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

export function newHostToken(): string {
  return HOST_TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

export function isHostToken(token: string): boolean {
  return /^dbh_[A-Za-z0-9_-]{43}$/.test(token)
}

/** What the store keeps of a host token: enough to recognise it, not to present it. */
export function hostTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** The bearer the broker presents to the agent of the host whose token hashes to `tokenHash`. */
export function brokerCredential(tokenHash: string): string {
  return createHmac('sha256', tokenHash).update('dbroker broker->agent v1').digest('base64url')
}

/** Checks `Authorization: Bearer X` against the broker credential of `hostToken`, in constant time. */
export function brokerCredentialChecker(hostToken: string): (header: string | undefined) => boolean {
  const want = Buffer.from(brokerCredential(hostTokenHash(hostToken)))
  return (header) => {
    if (!header || !header.startsWith('Bearer ')) return false
    const given = Buffer.from(header.slice(7).trim())
    return given.length === want.length && timingSafeEqual(given, want)
  }
}

/** The token of `Authorization: Bearer TOKEN`, if that is what the header holds. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header || !header.startsWith('Bearer ')) return undefined
  const token = header.slice(7).trim()
  return token || undefined
}
