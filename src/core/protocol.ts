/**
 * The broker<->agent protocol, defined once: what an agent registers and
 * beats with, what the broker answers, the container specs and states both
 * sides speak of, and the routes of both APIs. The broker's agent routes, the
 * agent's heartbeat, its HTTP API and the HTTP AgentClient all validate with
 * these schemas; the domain types in types.ts come from them. Over 300 lines
 * on purpose: the contract is read as one document, and split it would drift.
 */
import {z} from 'zod'

import {HOST_ID_PATTERN} from './host-identity.js'
import {registryAuth, registrySettings} from './registries.js'
import {CAPABILITIES, type ContainerSecurity} from './security.js'

/** Where agents register and heartbeat, on the broker. */
export const AGENTS_PREFIX = '/agents/v1'
export const AGENTS_ROUTES = {register: '/register', heartbeat: '/heartbeat', registryAuth: '/registry-auth'} as const

/** The agent's own API (the remote transport of AgentClient), on the agent. */
export const AGENT_API_PREFIX = '/v1'
export const AGENT_API_ROUTES = {
  facts: '/facts',
  containers: '/containers',
  container: '/containers/:id',
  exec: '/containers/:id/exec',
  restart: '/containers/:id/restart',
  stats: '/containers/:id/stats',
  logs: '/containers/:id/logs',
} as const

/** The path of one container's route for an instance id, as the client calls it. */
export const containerPath = (instanceId: string, route: keyof typeof AGENT_API_ROUTES = 'container') =>
  AGENT_API_ROUTES[route].replace(':id', encodeURIComponent(instanceId))

/** What a registration may hold at most: an agent holding a token must not be able to store megabytes. */
export const REGISTRATION_LIMITS = {
  url: 2048,
  text: 256,
  zone: 63,
  labels: 32,
  labelKey: 63,
  labelValue: 256,
  registries: 32,
  instanceId: 255,
  containers: 4096,
} as const

const L = REGISTRATION_LIMITS
const text = (max: number = L.text) => z.string().max(max)
const strings = z.record(z.string(), z.string())
const port = z.number().int().min(1).max(65535)

export const portMapping = z.object({container: port, host: port, protocol: z.enum(['tcp', 'udp'])})

export const volumeMount = z.object({
  /** Docker volume name; stable for the life of the instance. */
  name: z.string().min(1),
  path: z.string().min(1),
})

export const readiness = z.discriminatedUnion('probe', [
  z.object({
    probe: z.literal('tcp'),
    port,
    send: z.string().optional(),
    expect: z.string().optional(),
    timeoutMs: z.number(),
  }),
  z.object({probe: z.literal('exec'), command: z.array(z.string()).min(1), timeoutMs: z.number()}),
  z.object({probe: z.literal('healthcheck'), timeoutMs: z.number()}),
  z.object({probe: z.literal('none'), timeoutMs: z.number()}),
])

export const buildSource = z.object({
  /** Absolute path of the build context on the agent's machine; '' for an inline Dockerfile, built without one. */
  context: z.string(),
  /** The Dockerfile's text (a manifest's `dockerfile:`), used instead of a file in the context. */
  inline: z.string().optional(),
  dockerfile: z.string().optional(),
  args: strings.optional(),
})

/** A host directory bound into a container. */
export const hostBind = z.object({source: z.string().min(1), path: z.string().min(1), readOnly: z.boolean()})

/** A sized data disk mounted at `path`: a loop image or a Docker volume, the host's default when `driver` is absent. */
export const diskSpec = z.object({
  name: z.string().min(1),
  path: z.string().min(1),
  sizeBytes: z.number().int().positive(),
  driver: z.enum(['loop', 'volume']).optional(),
})

export const containerSecurity: z.ZodType<ContainerSecurity> = z.object({
  capabilities: z.array(z.enum(CAPABILITIES)),
  readOnlyRootfs: z.boolean(),
  tmpfs: z.record(z.string(), z.number().int().nonnegative()),
  noNewPrivileges: z.boolean(),
  pidsLimit: z.number().int().positive(),
  log: z
    .object({
      driver: z.enum(['json-file', 'local']),
      maxSizeBytes: z.number().int().positive(),
      maxFiles: z.number().int().positive(),
    })
    .optional(),
})

export const restartPolicy = z.enum(['no', 'always', 'unless-stopped', 'on-failure'])

/** Everything an agent needs to run one service instance's container. */
export const containerSpec = z.object({
  instanceId: z.string().min(1),
  name: z.string().min(1),
  image: z.string().min(1),
  build: buildSource.optional(),
  command: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  env: strings,
  ports: z.array(portMapping),
  /** Address on the host that published ports bind to. */
  bindAddress: z.string(),
  volumes: z.array(volumeMount),
  memoryBytes: z.number().positive().optional(),
  nanoCpus: z.number().positive().optional(),
  restart: restartPolicy,
  labels: strings,
  readiness,
  hooks: z.object({bind: z.array(z.string()).optional(), unbind: z.array(z.string()).optional()}),
  /** The rest is what a manifest container can ask for (issue 9); absent in a service instance's spec. */
  restartRetries: z.number().int().nonnegative().optional(),
  binds: z.array(hostBind).optional(),
  disk: diskSpec.optional(),
  /** The container's logging driver and its options; absent: the spec's legacy `security.log`, else the default. */
  logging: z.object({driver: z.string().min(1), options: strings}).optional(),
  /** Instance ids of containers on the same host that run before this one and whose restarts restart it. */
  dependsOn: z.array(z.string()).optional(),
  supervision: z.object({maxRestarts: z.number().int().nonnegative(), windowMs: z.number().positive()}).optional(),
  /** A network of its own (a deployment's on this host) instead of the installation's, where `aliases` resolve to it. */
  network: z.object({name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/), aliases: z.array(z.string().min(1))}).optional(),
  /** false: the image's HEALTHCHECK is off (a manifest container whose readiness is not `healthcheck`). */
  imageHealthcheck: z.boolean().optional(),
  /** Absent in specs stored before hardening: the agent then applies the defaults. */
  security: containerSecurity.optional(),
})

export const containerStatus = z.enum([
  'created',
  'running',
  'restarting',
  'exited',
  'paused',
  'dead',
  'removing',
  'missing',
  'unknown',
])
export const health = z.enum(['healthy', 'unhealthy', 'starting', 'none'])

/** What an agent reports about one container it runs for an instance. */
export const containerState = z.object({
  instanceId: z.string(),
  containerId: z.string(),
  name: z.string(),
  image: z.string(),
  status: containerStatus,
  health,
  restartCount: z.number().int().nonnegative(),
  startedAt: z.string().optional(),
  specHash: z.string().optional(),
  /** Made by a dbroker before installation labels: whose it is, only the instance's stored spec can tell. */
  legacy: z.boolean().optional(),
  /** The supervisor's (absent from agents that predate it): how the container last died, and whether it keeps dying. */
  lastExitCode: z.number().int().optional(),
  oomKilled: z.boolean().optional(),
  failing: z.boolean().optional(),
})

/** A slow or stopped engine is a fact of a live host, not a dead host. */
export const engineCondition = z.object({
  status: z.enum(['ok', 'slow', 'down']),
  /** Age of the facts and container states sent with it, when the agent sent them. */
  ageMs: z.number().nonnegative(),
  error: text(L.url).optional(),
})

export const hostFacts = z.object({
  engineVersion: text(),
  apiVersion: text().optional(),
  cpus: z.number().nonnegative(),
  memoryBytes: z.number().nonnegative(),
  containersRunning: z.number().int().nonnegative(),
  registryMirrors: z.array(text(L.url)).max(L.registries),
  insecureRegistries: z.array(text(L.url)).max(L.registries),
  loggingDriver: text(),
  os: text().optional(),
  /** How the engine answered the agent's last looks; absent from agents that predate it. */
  engine: engineCondition.optional(),
  /** Where the host keeps a spec's `disk` when the spec names no driver, and why not `loop` when it can't. */
  disks: z.object({driver: z.enum(['loop', 'volume']), reason: text(L.url).optional()}).optional(),
  /** Whether the agent keeps its engine (`--manage-engine`): how often it started dockerd again, and why registry settings don't apply. */
  engineControl: z
    .object({
      managed: z.boolean(),
      restarts: z.number().int().nonnegative().optional(),
      lastRestartAt: z.number().optional(),
      registryProblem: text(L.url).optional(),
    })
    .optional(),
})

export const hostCapacity = z.object({
  maxContainers: z.number().int().positive().nullable(),
  memoryBytes: z.number().positive().nullable(),
})

const hostId = z.string().regex(HOST_ID_PATTERN, 'use letters, digits, ".", "_" and "-" (at most 63)')
/** A host name or an IP address: it goes into credentials, Docker port bindings and the operator's terminal. */
const address = z.string().regex(/^[A-Za-z0-9._:[\]-]{1,253}$/, 'use a host name or an IP address')
const instanceId = text(L.instanceId)

/** One container as a beat reports it: the broker keeps only its status, to tell screens when it changes. */
export const containerReport = z.object({
  instanceId,
  status: text(32),
  health: text(32).optional(),
  restartCount: z.number().int().nonnegative().optional(),
  specHash: text(64).optional(),
})

const beatState = {
  facts: hostFacts.nullable(),
  containers: z.array(containerReport).max(L.containers).default([]),
  /** Instances whose container the agent (re)made since its last beat. */
  applied: z.array(instanceId).max(L.containers).default([]),
}

export const registerBody = z.object({
  id: hostId,
  agentUrl: z.url({protocol: /^https?$/}).max(L.url),
  serviceAddress: address,
  bindAddress: address,
  portRange: z.tuple([port, port]).refine(([a, b]) => a <= b, 'MIN must not exceed MAX'),
  zone: text(L.zone).min(1).nullable().default(null),
  labels: z
    .record(z.string(), text(L.labelValue))
    .superRefine((labels, ctx) => {
      const keys = Object.keys(labels)
      if (keys.length > L.labels) ctx.addIssue({code: 'custom', message: `at most ${L.labels} labels`})
      for (const key of keys.filter((k) => k.length > L.labelKey))
        ctx.addIssue({code: 'custom', path: [key], message: `a label name has at most ${L.labelKey} characters`})
    })
    .default({}),
  capacity: hostCapacity.default({maxContainers: null, memoryBytes: null}),
  keepaliveMs: z.number().int().min(100).nullable().default(null),
  ...beatState,
})

export const heartbeatBody = z.object({id: hostId, ...beatState})

/** The broker's answer to a register or a heartbeat: the host's desired containers, converged on each beat. */
export const agentAnswer = z.object({
  /** The broker's interval, for agents that don't set their own. */
  keepaliveMs: z.number().int().positive().optional(),
  /** The broker's installation: the agent acts only on containers labelled with it. */
  installation: z
    .string()
    .regex(/^[a-z0-9]{1,32}$/)
    .optional(),
  specs: z.array(containerSpec),
  /** The registry mirrors and insecure registries the operator wants on this host; absent: none asked for. */
  registry: registrySettings.nullable().optional(),
})

/** An agent about to pull `image` asks for its registry's login; the broker answers only for images its specs name. */
export const registryAuthBody = z.object({id: hostId, image: z.string().min(1).max(1024)})
export const registryAuthAnswer = z.object({auth: registryAuth.nullable()})

export const execBody = z.object({
  command: z.array(z.string()).min(1),
  env: strings.default({}),
  /** A JSON-form lifecycle executable's document (at most 64 KiB, as images/README.md says). */
  stdin: z.string().max(65_536).optional(),
  containerName: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/)
    .optional(),
})
export const execResult = z.object({
  exitCode: z.number().int(),
  output: z.string(),
  stdout: z.string().optional(),
  stderr: z.string().optional(),
})

export const containerStats = z.object({
  /** Percent of one CPU (100 = one core busy). */
  cpuPercent: z.number(),
  memoryBytes: z.number(),
  memoryLimitBytes: z.number(),
})
export const statsAnswer = z.object({stats: containerStats.nullable()})
/** GET /containers/:id: one container's state (an adopted one's by `adopted:<name>`), null when there is none. */
export const inspectAnswer = z.object({state: containerState.nullable()})

const flag = z.enum(['true', 'false']).optional()
const count = z.string().regex(/^\d+$/, 'use a whole number').optional()
export const containerParams = z.object({id: z.string().min(1)})
export const removeQuery = z.object({keepData: flag})
export const restartBody = z.object({after: z.array(z.string().min(1)).optional()}).default({})
export const logsQuery = z.object({tail: count, since: count, follow: flag, timestamps: flag})

export type RegisterBody = z.infer<typeof registerBody>
/** What an agent sends to register: defaults may be left out. */
export type RegisterRequest = z.input<typeof registerBody>
export type HeartbeatBody = z.infer<typeof heartbeatBody>
export type HeartbeatRequest = z.input<typeof heartbeatBody>
export type AgentAnswer = z.infer<typeof agentAnswer>

/** A zod failure as one line naming each field: `labels.zone: Too big: ...; portRange: ...`. */
export function describeIssues(issues: ReadonlyArray<{path: PropertyKey[]; message: string}>): string {
  return issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ')
}
