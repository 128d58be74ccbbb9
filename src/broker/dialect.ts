/** The OSB versions this broker speaks; a newer 2.x minor is answered as the newest we know. */
export const MIN_VERSION = 2.13
export const MAX_VERSION = 2.17

/** Parses `X-Broker-API-Version`; undefined when missing or unsupported. */
export function parseVersion(header: string | undefined): number | undefined {
  const match = header ? /^(\d+)\.(\d+)$/.exec(header.trim()) : null
  if (!match || match[1] !== '2') return undefined
  // Minors compare as integers: 2.20 is newer than 2.17, not 2.2.
  const minor = Number(match[2])
  const version = 2 + minor / 100
  return version >= MIN_VERSION ? Math.min(version, MAX_VERSION) : undefined
}

/** Version that introduced each optional response field. */
const INTRODUCED: Record<string, number> = {
  maintenance_info: 2.14,
  instance_usable: 2.14,
  update_repeatable: 2.14,
  endpoints: 2.15,
  metadata: 2.16,
}

/** Answers in the dialect asked for: a field newer than the requested version is left out. */
export function inDialect(body: Record<string, unknown>, version: number): Record<string, unknown> {
  let out: Record<string, unknown> | undefined
  for (const key of Object.keys(body)) {
    const since = INTRODUCED[key]
    if (since !== undefined && version < since) {
      out ??= {...body}
      delete out[key]
    }
  }
  return out ?? body
}
