/** Shared domain types: what the broker stores and what an agent runs. */
import type {ContainerSecurity} from './security.js'

export type RestartPolicy = 'no' | 'always' | 'unless-stopped' | 'on-failure'

export interface PortMapping {
  container: number
  host: number
  protocol: 'tcp' | 'udp'
}

export interface VolumeMount {
  /** Docker volume name; stable for the life of the instance. */
  name: string
  path: string
}

export type Readiness =
  | {probe: 'tcp'; port: number; send?: string; expect?: string; timeoutMs: number}
  | {probe: 'exec'; command: string[]; timeoutMs: number}
  | {probe: 'healthcheck'; timeoutMs: number}
  | {probe: 'none'; timeoutMs: number}

export interface BuildSource {
  /** Absolute path of the build context on the agent's machine; '' for an inline Dockerfile, built without one. */
  context: string
  /** The Dockerfile's text (a manifest's `dockerfile:`), used instead of a file in the context. */
  inline?: string
  dockerfile?: string
  args?: Record<string, string>
}

/** Everything an agent needs to run one service instance's container. */
export interface ContainerSpec {
  instanceId: string
  name: string
  image: string
  build?: BuildSource
  command?: string[]
  entrypoint?: string[]
  env: Record<string, string>
  ports: PortMapping[]
  /** Address on the host that published ports bind to. */
  bindAddress: string
  volumes: VolumeMount[]
  memoryBytes?: number
  nanoCpus?: number
  restart: RestartPolicy
  labels: Record<string, string>
  readiness: Readiness
  hooks: {bind?: string[]; unbind?: string[]}
  /** The rest is what a manifest container can ask for (issue 9); absent in a service instance's spec. */
  restartRetries?: number
  binds?: HostBind[]
  disk?: DiskSpec
  logging?: {driver: string; options: Record<string, string>}
  /** Instance ids of containers on the same host that run before this one and whose restarts restart it. */
  dependsOn?: string[]
  supervision?: {maxRestarts: number; windowMs: number}
  /** Absent in specs stored before hardening: the agent then applies the defaults. */
  security?: ContainerSecurity
}

/** A host directory bound into a container. */
export interface HostBind {
  source: string
  path: string
  readOnly: boolean
}

/** A sized data disk mounted at `path`: a loop image or a Docker volume, the host's default when `driver` is absent. */
export interface DiskSpec {
  name: string
  path: string
  sizeBytes: number
  driver?: 'loop' | 'volume'
}

export type ContainerStatus =
  'created' | 'running' | 'restarting' | 'exited' | 'paused' | 'dead' | 'removing' | 'missing' | 'unknown'
export type Health = 'healthy' | 'unhealthy' | 'starting' | 'none'

/** What an agent reports about one container it runs for an instance. */
export interface ContainerState {
  instanceId: string
  containerId: string
  name: string
  image: string
  status: ContainerStatus
  health: Health
  restartCount: number
  startedAt?: string
  specHash?: string
  /** Made by a dbroker before installation labels: whose it is, only the instance's stored spec can tell. */
  legacy?: boolean
  /** The supervisor's (absent from agents that predate it): how the container last died, and whether it keeps dying. */
  lastExitCode?: number
  oomKilled?: boolean
  failing?: boolean
}

export interface HostFacts {
  engineVersion: string
  apiVersion?: string
  cpus: number
  memoryBytes: number
  containersRunning: number
  registryMirrors: string[]
  insecureRegistries: string[]
  loggingDriver: string
  os?: string
  /** How the engine answered the agent's last looks; absent from agents that predate it. */
  engine?: EngineCondition
  /** Where the host keeps a spec's `disk` when the spec names no driver, and why not `loop` when it can't. */
  disks?: {driver: 'loop' | 'volume'; reason?: string}
}

/** A slow or stopped engine is a fact of a live host, not a dead host. */
export interface EngineCondition {
  status: 'ok' | 'slow' | 'down'
  /** Age of the facts and container states sent with it, when the agent sent them. */
  ageMs: number
  error?: string
}

/** `unreachable`: heartbeats come, but the broker's calls to the agent fail (never stored: each broker's own view). */
export type HostStatus = 'alive' | 'dead' | 'unreachable'

/** Which way a host can't be reached, why, and since when (ms epoch). `in` is agent -> broker (heartbeats), `out` broker -> agent. */
export interface HostReachability {
  direction: 'in' | 'out' | 'both'
  reason: string
  since: number
}

export interface Host {
  id: string
  /** The address written into credentials: where applications reach the containers. */
  serviceAddress: string
  /** Address that published ports bind to on the host. */
  bindAddress: string
  agentUrl: string | null
  portMin: number
  portMax: number
  status: HostStatus
  drained: boolean
  zone: string | null
  labels: Record<string, string>
  facts: HostFacts | null
  lastHeartbeat: number
  /** Limits the agent announces; null is unlimited. */
  capacity: HostCapacity
  /** The agent's heartbeat interval; the broker's own when null. */
  keepaliveMs: number | null
  /** Set by the broker when the host is dead or unreachable. */
  reachability?: HostReachability
}

export interface HostCapacity {
  maxContainers: number | null
  memoryBytes: number | null
}

export type InstanceState = 'provisioning' | 'ready' | 'updating' | 'deprovisioning' | 'failed'

export interface InstanceCredentials {
  username: string
  password: string
  database?: string
}

export interface ServiceInstance {
  id: string
  serviceId: string
  planId: string
  hostId: string
  state: InstanceState
  organizationGuid: string
  spaceGuid: string
  parameters: Record<string, unknown>
  context: Record<string, unknown>
  maintenanceInfo: {version: string} | null
  credentials: InstanceCredentials
  spec: ContainerSpec
  dashboardUrl: string | null
  name: string | null
  createdAt: number
  updatedAt: number
}

export type BindingState = 'binding' | 'bound' | 'unbinding' | 'failed'

export interface BindingCredentials {
  host: string
  port: number
  username: string
  password: string
  uri: string
  database?: string
  [key: string]: unknown
}

export interface Binding {
  id: string
  instanceId: string
  serviceId: string
  planId: string
  state: BindingState
  appGuid: string | null
  bindResource: Record<string, unknown> | null
  parameters: Record<string, unknown>
  context: Record<string, unknown>
  credentials: BindingCredentials
  createdAt: number
  /** When the broker unbinds it (ms since the epoch); null or absent: never. */
  expiresAt?: number | null
}

export type OperationKind = 'provision' | 'update' | 'deprovision' | 'bind' | 'unbind'
export type OperationState = 'in progress' | 'succeeded' | 'failed'

export interface Operation {
  id: string
  kind: OperationKind
  instanceId: string
  bindingId: string | null
  state: OperationState
  description: string
  /** Canonical JSON of the request attributes, to tell identical retries from conflicts. */
  requestKey: string
  originatingIdentity: string | null
  requestIdentity: string | null
  createdAt: number
  updatedAt: number
}
