import type {Catalog} from '../catalog/index.js'

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

/** Every version a platform can ask for, as parseVersion answers it. */
export const VERSIONS = [13, 14, 15, 16, 17].map((minor) => parseVersion(`2.${minor}`)!)

/** Catalog fields newer than 2.13, by the version that introduced them. */
const SERVICE_INTRODUCED: Record<string, number> = {instances_retrievable: 2.14, bindings_retrievable: 2.14}
const PLAN_INTRODUCED: Record<string, number> = {maintenance_info: 2.14}

/** Plan fields that are dbroker's own (how the container runs, where it may go): never in the OSB catalog. */
const PLAN_PRIVATE = new Set(['container', 'async_only', 'requires_app', 'placement', 'client', 'kind'])

const keep = (
  fields: Record<string, unknown>,
  introduced: Record<string, number>,
  version: number,
  hidden?: Set<string>,
) => Object.fromEntries(Object.entries(fields).filter(([key]) => !hidden?.has(key) && !(introduced[key] > version)))

/** The `GET /v2/catalog` body in the dialect of `version`: fields newer than it, and dbroker's own, left out. */
export function catalogInDialect(
  definition: Catalog['definition'],
  version: number,
): {services: Array<Record<string, unknown>>} {
  return {
    services: definition.services.map(({plans, ...service}) => ({
      ...keep(service, SERVICE_INTRODUCED, version),
      plans: plans.map((plan) => keep(plan, PLAN_INTRODUCED, version, PLAN_PRIVATE)),
    })),
  }
}
