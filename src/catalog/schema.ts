import {z} from 'zod'

import {CAPABILITIES} from '../core/security.js'
import {restartText} from './restart.js'
import {DRAIN_URL_MESSAGE, isDrainUrl, leaksCredential, loggingSchema} from './logging.js'
import {MAX_DISK_BYTES, MIN_DISK_BYTES, parseBytes, parseDuration} from './units.js'

const uuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a UUID')
const name = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and "-"')
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
const bytes = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseBytes(value)
  if (parsed === undefined) ctx.addIssue({code: 'custom', message: `"${value}" is not a size (e.g. 256m, 1g)`})
  return parsed ?? 0
})
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseDuration(value)
  if (parsed === undefined)
    ctx.addIssue({code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 30s, 2m)`})
  return parsed ?? 0
})
const command = z.array(z.string()).min(1)
const containerPath = z.string().startsWith('/', 'must be an absolute path in the container')

const capability = z
  .string()
  .transform((c) => c.toUpperCase().replace(/^CAP_/, ''))
  .refine(
    (c): c is (typeof CAPABILITIES)[number] => (CAPABILITIES as readonly string[]).includes(c),
    'is not a Linux capability (e.g. CHOWN, SETUID)',
  )

/** Loosens the hardened defaults for an image that needs it; every field left out keeps its default. */
const security = z.strictObject({
  /** The whole list kept after dropping every capability (replaces the default list). */
  capabilities: z.array(capability).optional(),
  read_only: z.boolean().optional(),
  /** More in-memory writable paths, added to /tmp and /run: path -> size. */
  tmpfs: z
    .record(z.string(), bytes)
    .superRefine((mounts, ctx) => {
      for (const at of Object.keys(mounts))
        if (!/^\/[^:,]*$/.test(at))
          ctx.addIssue({code: 'custom', path: [at], message: 'must be an absolute path without ":" or ","'})
    })
    .optional(),
  no_new_privileges: z.boolean().optional(),
  pids_limit: z.number().int().min(16).max(1_000_000).optional(),
  /** The old spelling of the container's `logging` (json-file or local with a size cap), still read. */
  log: z
    .strictObject({
      driver: z.enum(['json-file', 'local']).optional(),
      max_size: bytes.optional(),
      max_files: z.number().int().min(1).max(100).optional(),
    })
    .optional(),
})

/** After more than `max_restarts` failures within `window` the host's supervisor calls a container failing. */
const supervision = z.strictObject({max_restarts: z.number().int().min(0), window: duration})

const readiness = z.discriminatedUnion('probe', [
  z.strictObject({
    probe: z.literal('tcp'),
    port: z.number().int().positive().optional(),
    send: z.string().optional(),
    expect: z
      .string()
      .refine((re) => {
        try {
          new RegExp(re)
          return true
        } catch {
          return false
        }
      }, 'must be a regular expression')
      .optional(),
    timeout: duration.default(60_000),
  }),
  z.strictObject({probe: z.literal('exec'), command, timeout: duration.default(60_000)}),
  z.strictObject({probe: z.literal('healthcheck'), timeout: duration.default(60_000)}),
  z.strictObject({probe: z.literal('none'), timeout: duration.default(0)}),
])

export const containerSchema = z.strictObject({
  image: z.string().min(1),
  /** Build context, relative to the catalog file; used when the image is not present. */
  build: z
    .union([
      z.string(),
      z.strictObject({
        context: z.string(),
        dockerfile: z.string().optional(),
        args: z.record(z.string(), z.string()).optional(),
      }),
    ])
    .transform((b) => (typeof b === 'string' ? {context: b} : b))
    .optional(),
  command: command.optional(),
  entrypoint: command.optional(),
  env: z.record(envName, z.string()).default({}),
  ports: z.array(z.number().int().min(1).max(65535)).min(1),
  volumes: z.array(containerPath).default([]),
  /** A sized data disk at `path` (the first volume's path when absent): a loop image, or a Docker volume. */
  disk: z
    .strictObject({
      size: bytes.refine((b) => b >= MIN_DISK_BYTES && b <= MAX_DISK_BYTES, 'a disk is between 16M and 16T (e.g. 1G)'),
      driver: z.enum(['loop', 'volume']).optional(),
      path: containerPath.optional(),
    })
    .optional(),
  memory: bytes.optional(),
  cpus: z.number().positive().max(1024).optional(),
  /** always | unless-stopped | on-failure[:N] | no, as `docker run --restart` takes it. */
  restart: restartText.default('unless-stopped'),
  credentials: z.strictObject({
    /** A fixed user name; generated per instance when absent. */
    username: z.string().optional(),
    database: z.boolean().default(false),
    env: z.strictObject({username: envName.optional(), password: envName, database: envName.optional()}),
  }),
  /** Each binding gets its own user through the image's bind/unbind executables, or all share the instance's. */
  binding_credentials: z.enum(['per-binding', 'shared']).default('shared'),
  hooks: z.strictObject({bind: command.optional(), unbind: command.optional()}).default({}),
  /** Maps plan parameters to environment variables of the container. */
  parameters: z.record(z.string(), envName).default({}),
  uri: z.string().min(1),
  readiness: readiness.default({probe: 'none', timeout: 0}),
  security: security.optional(),
  /** Where the container's output goes: a Docker logging driver and its options (default: local, 3 × 10 MiB). */
  logging: loggingSchema.optional(),
  supervision: supervision.optional(),
})

const maintenanceInfo = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, 'must be a semantic version'),
  description: z.string().optional(),
})

const jsonSchema = z
  .record(z.string(), z.unknown())
  .refine((s) => typeof s.$schema === 'string', 'a JSON schema needs "$schema"')
  .refine((s) => !JSON.stringify(s).includes('"$ref":"http'), 'external $ref is not allowed')
  .refine((s) => JSON.stringify(s).length <= 65_536, 'a schema may be at most 64 kB')

const schemaPair = z.strictObject({parameters: jsonSchema.optional()})

const port = z.number().int().min(1).max(65535)
/** Credentials an operator gives (static plans, adopted containers): handed to every binding as they are. */
const givenCredentials = z.strictObject({
  host: z.string().min(1),
  port,
  username: z.string().min(1),
  password: z.string().min(1),
  database: z.string().min(1).optional(),
  uri: z.string().min(1),
})
const existingContainer = {
  host: z.string().min(1),
  container: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be a Docker container name'),
  /** The host port the container publishes its service on. */
  port,
  uri: z.string().min(1).optional(),
  credentials: givenCredentials.optional(),
}
/** The shape `kind` is read into, also accepted as written (a catalog stored by the broker is read again). */
const readKind = z.discriminatedUnion('type', [
  z.strictObject({type: z.literal('dedicated')}),
  z.strictObject({type: z.literal('static'), credentials: givenCredentials}),
  z.strictObject({type: z.literal('shared'), container: name.optional()}),
  z.strictObject({type: z.literal('existing'), ...existingContainer}),
])
/** What an instance of a plan is (README "Plan kinds"): its own container, given credentials, a database in a shared or an adopted container. */
const planKind = z
  .union([
    z.enum(['dedicated', 'shared']),
    readKind,
    z.strictObject({static: z.strictObject({credentials: givenCredentials})}),
    z.strictObject({shared: z.strictObject({container: name.optional()})}),
    z.strictObject({existing: z.strictObject(existingContainer)}),
  ])
  .transform((k): PlanKind => {
    if (k === 'dedicated' || k === 'shared') return {type: k}
    if ('type' in k) return k
    if ('static' in k) return {type: 'static', credentials: k.static.credentials}
    if ('shared' in k) return {type: 'shared', container: k.shared.container}
    return {type: 'existing', ...k.existing}
  })
export type GivenCredentials = z.infer<typeof givenCredentials>
export type PlanKind =
  | {type: 'dedicated'}
  | {type: 'static'; credentials: GivenCredentials}
  | {type: 'shared'; container?: string}
  | {type: 'existing'; host: string; container: string; port: number; uri?: string; credentials?: GivenCredentials}

export const planSchema = z.strictObject({
  id: uuid,
  name,
  description: z.string().min(1),
  metadata: z.record(z.string(), z.unknown()).optional(),
  free: z.boolean().default(true),
  bindable: z.boolean().optional(),
  plan_updateable: z.boolean().optional(),
  binding_rotatable: z.boolean().optional(),
  maximum_polling_duration: z.number().int().positive().optional(),
  maintenance_info: maintenanceInfo.optional(),
  schemas: z
    .strictObject({
      service_instance: z.strictObject({create: schemaPair.optional(), update: schemaPair.optional()}).optional(),
      service_binding: z.strictObject({create: schemaPair.optional()}).optional(),
    })
    .optional(),
  /** Only async (accepts_incomplete=true) requests are accepted for this plan. */
  async_only: z.boolean().default(false),
  requires_app: z.boolean().default(false),
  /** The service's own client `dbroker connect` opens with a temporary binding; a plan without one can't be connected to. */
  client: z.enum(['redis-cli', 'psql', 'mariadb']).optional(),
  /** Only hosts in one of these zones and with all these labels take the plan's instances. */
  placement: z
    .strictObject({
      zones: z.array(z.string().min(1)).min(1).optional(),
      labels: z.record(z.string(), z.string()).default({}),
    })
    .optional(),
  kind: planKind.default({type: 'dedicated'}),
  /** How the plan's containers run; a static or existing plan has none of its own. */
  container: containerSchema
    .superRefine((c, ctx) => {
      if (c.disk && !c.disk.path && c.volumes.length === 0)
        ctx.addIssue({code: 'custom', path: ['disk', 'path'], message: 'name the path the disk is mounted at'})
      if (c.logging && c.security?.log)
        ctx.addIssue({code: 'custom', path: ['security', 'log'], message: 'is the old spelling of logging: give one'})
      const leak = c.logging && leaksCredential(c.logging, Object.values(c.credentials.env))
      if (leak) ctx.addIssue({code: 'custom', path: ['logging', 'options'], message: leak})
    })
    .optional(),
})

/** A binding's syslog_drain_url is its uri: a service that says it is a drain gives one the platform can drain to. */
function drainsHaveDrainUris(
  service: {requires?: string[]; plans: Array<{container?: {uri: string}}>},
  ctx: z.RefinementCtx,
) {
  if (service.requires?.includes('syslog_drain'))
    service.plans.forEach((plan, i) => {
      if (plan.container && !isDrainUrl(plan.container.uri))
        ctx.addIssue({code: 'custom', path: ['plans', i, 'container', 'uri'], message: DRAIN_URL_MESSAGE})
    })
}

export const serviceSchema = z.strictObject({
  id: uuid,
  name,
  description: z.string().min(1),
  bindable: z.boolean(),
  tags: z.array(z.string()).optional(),
  requires: z.array(z.enum(['syslog_drain', 'route_forwarding', 'volume_mount'])).optional(),
  instances_retrievable: z.boolean().default(true),
  bindings_retrievable: z.boolean().default(true),
  allow_context_updates: z.boolean().optional(),
  plan_updateable: z.boolean().default(false),
  metadata: z.record(z.string(), z.unknown()).optional(),
  dashboard_client: z.strictObject({id: z.string(), secret: z.string(), redirect_uri: z.string()}).optional(),
  plans: z.array(planSchema).min(1),
})

export const catalogSchema = z.strictObject({services: z.array(serviceSchema.superRefine(drainsHaveDrainUris)).min(1)})

export type CatalogFile = z.infer<typeof catalogSchema>
export type ServiceDef = z.infer<typeof serviceSchema>
export type PlanDef = z.infer<typeof planSchema>
export type ContainerDef = z.infer<typeof containerSchema>

// Shared with deployment manifests (src/manifest), which take sizes, durations and probes the same way.
export {bytes, duration, readiness, supervision}
