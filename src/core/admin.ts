/** What the admin API answers and streams: shared by the broker, the client and the screens. */
import type {RegistrySettings} from './registries.js'
import type {SecurityView} from './security.js'
import type {
  ContainerStatus,
  Health,
  HostFacts,
  HostReachability,
  HostStatus,
  InstanceState,
  PortMapping,
} from './types.js'

export interface ChangeEvent {
  /** `resync`: changes may have been missed (the brokers' channel reconnected); refetch what is shown. `catalog`: a service was added, updated or removed. */
  kind: 'host' | 'instance' | 'binding' | 'operation' | 'resync' | 'catalog'
  id: string
  action: string
  instanceId?: string
  state?: string
  description?: string
  at: number
}

export interface ContainerStats {
  /** Percent of one CPU (100 = one core busy). */
  cpuPercent: number
  memoryBytes: number
  memoryLimitBytes: number
}

export interface HostView {
  id: string
  status: HostStatus
  /** Which direction fails and why, while the host is dead or unreachable. */
  reachability?: HostReachability
  /** Milliseconds since the last heartbeat, as the broker saw it when answering. */
  heartbeatAgeMs: number
  lastHeartbeat: number
  serviceAddress: string
  agentUrl: string | null
  portRange: [number, number]
  drained: boolean
  zone: string | null
  instances: number
  facts: HostFacts | null
  /** The registry settings the operator wants there against what its engine has; absent from older brokers. */
  registry?: HostRegistryView
}

export interface HostRegistryView {
  desired: RegistrySettings | null
  actual: RegistrySettings | null
  /** `not applied` says `why`: the agent doesn't manage its engine, or what failed. */
  state: 'not set' | 'in force' | 'not applied' | 'unknown'
  why?: string
}

export interface ContainerView {
  status: ContainerStatus
  health: Health
  restartCount: number
  startedAt: string | null
  /** From the host's supervisor, when it has seen the container die. */
  lastExitCode?: number
  oomKilled?: boolean
  failing?: boolean
}

export type PlanKindName = 'dedicated' | 'static' | 'shared' | 'existing'

export interface InstanceView {
  id: string
  name: string | null
  service: string
  plan: string
  serviceId: string
  planId: string
  hostId: string
  /** Where applications reach it: the host's service address. */
  address: string
  ports: PortMapping[]
  state: InstanceState
  /** Its plan's kind; absent from older brokers (dedicated then). */
  kind?: PlanKindName
  /** A shared or adopted container: how many other instances of this broker live in it. */
  tenants?: number
  /** The container behind it (a shared or adopted one's for those kinds); null: unknown, or none (static). */
  container: ContainerView | null
  /** Its container's: for a shared one, every tenant's together. */
  stats: ContainerStats | null
  /** What its spec allows: cpus in cores, memory in bytes; null: no limit. Absent from older brokers. */
  limits?: {cpus: number | null; memoryBytes: number | null}
  createdAt: number
}

export interface BindingView {
  id: string
  state: string
  appGuid: string | null
  createdAt: number
  /** What the platform sent with the bind (the CLI's owner and ttl); absent from older brokers. */
  context?: Record<string, unknown>
  /** When the broker unbinds it; null: never. Absent from older brokers. */
  expiresAt?: number | null
  /** Present only when asked for with `?credentials=true`. */
  credentials?: Record<string, unknown>
}

export interface InstanceDetail extends InstanceView {
  image: string
  /** The client program `dbroker connect` opens (the plan's `client:`); null: the plan names none. Absent from older brokers. */
  client?: string | null
  memoryLimitBytes: number | null
  nanoCpus: number | null
  parameters: Record<string, unknown>
  context: Record<string, unknown>
  volumes: Array<{name: string; path: string}>
  /** Its own sized disk (`dbroker disk resize`); null: its plan keeps data in Docker volumes. Absent from older brokers. */
  disk?: {path: string; sizeBytes: number} | null
  /** How its container is confined (capabilities, read-only root, limits, logs, network); absent from brokers before hardening. */
  security?: SecurityView
  bindings: BindingView[]
  lastOperation: {kind: string; state: string; description: string; updatedAt: number} | null
}

export interface LogOptions {
  tail?: number
  /** Unix seconds, or a duration such as 10m (the API converts). */
  since?: number
  follow?: boolean
  timestamps?: boolean
  signal?: AbortSignal
}

/** `POST /admin/v1/instances/:ref/disk`'s answer: the instance's disk now has `toBytes`. */
export interface DiskResizeResult {
  id: string
  name: string | null
  path: string
  fromBytes: number
  toBytes: number
}
