/** Shared domain types: what the broker stores and what an agent runs (the protocol's from its zod schemas). */
import type {z} from 'zod'

import type * as protocol from './protocol.js'

export type RestartPolicy = z.infer<typeof protocol.restartPolicy>
export type PortMapping = z.infer<typeof protocol.portMapping>
export type VolumeMount = z.infer<typeof protocol.volumeMount>
export type Readiness = z.infer<typeof protocol.readiness>
export type BuildSource = z.infer<typeof protocol.buildSource>
/** Everything an agent needs to run one service instance's container. */
export type ContainerSpec = z.infer<typeof protocol.containerSpec>
/** A host directory bound into a container. */
export type HostBind = z.infer<typeof protocol.hostBind>
export type DiskSpec = z.infer<typeof protocol.diskSpec>
export type ContainerStatus = z.infer<typeof protocol.containerStatus>
export type Health = z.infer<typeof protocol.health>
/** What an agent reports about one container it runs for an instance. */
export type ContainerState = z.infer<typeof protocol.containerState>
export type HostFacts = z.infer<typeof protocol.hostFacts>
/** A slow or stopped engine is a fact of a live host, not a dead host. */
export type EngineCondition = z.infer<typeof protocol.engineCondition>

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

export type HostCapacity = z.infer<typeof protocol.hostCapacity>

export type InstanceState = 'provisioning' | 'ready' | 'updating' | 'deprovisioning' | 'failed'

export interface InstanceCredentials {
  username: string
  password: string
  database?: string
  /** What a shared or adopted container's /dbroker/provision answered besides the database (redis: key_prefix): given to its executables and bindings. */
  namespace?: Record<string, string>
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
