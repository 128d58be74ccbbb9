import type {ContainerStats, LogOptions} from './admin.js'
import type {ContainerSpec, ContainerState, HostFacts} from './types.js'

export interface ExecResult {
  exitCode: number
  output: string
  /** The two streams apart (agents that predate them send only `output`). */
  stdout?: string
  stderr?: string
}

/** How a lifecycle executable of the JSON form runs (images/README.md point 7). */
export interface ExecOptions {
  /** The JSON document it reads on stdin. */
  stdin?: string
  /** Run it in this container (an `existing` plan's, which dbroker did not make) instead of the instance's. */
  containerName?: string
}

export interface ApplyOptions {
  signal?: AbortSignal
  onProgress?: (line: string) => void
  /**
   * Set by convergence: the generation its desired state was computed at. The agent's guard
   * (GuardedAgent) then leaves the instance alone if the broker applied or removed it since.
   */
  asOf?: number
  /** Set by the agent's guard: whether the supervisor gave up on the container, so a wait for it fails at once. */
  failing?: () => boolean
}

/**
 * How the broker drives one host. `up` wires an in-process agent; a remote
 * host is reached over HTTP. Every method is idempotent.
 */
export interface RestartOptions {
  /** Instance ids of what the container depends on. */
  after?: readonly string[]
  /**
   * How long the stop waits before it kills (default 10 s). The supervisor's, for a container that is dead: what
   * its stop can reach is only a process the engine's restart policy started that very moment.
   */
  stopTimeoutSeconds?: number
}

/**
 * The agent-side id of a container an `existing` plan adopted (the operator's, named in the catalog, not made by
 * dbroker): logs, stats, restart and inspect act on that container by name. A dbroker id never starts so.
 */
export const ADOPTED_PREFIX = 'adopted:'
export const adoptedContainerId = (name: string) => `${ADOPTED_PREFIX}${name}`
export const adoptedName = (id: string): string | undefined =>
  id.startsWith(ADOPTED_PREFIX) ? id.slice(ADOPTED_PREFIX.length) : undefined

export interface AgentClient {
  /** Converge the host to this spec and resolve once the service accepts connections. */
  apply(spec: ContainerSpec, options?: ApplyOptions): Promise<ContainerState>
  /** Remove the instance's container and, unless keepData, its volumes. Missing is fine. */
  remove(instanceId: string, options?: {keepData?: boolean}): Promise<void>
  /** Run a command in the instance's running container. */
  exec(instanceId: string, command: string[], env: Record<string, string>, options?: ExecOptions): Promise<ExecResult>
  /**
   * Restart the instance's container; with `after`, only when it has not started since every one of those
   * instances' containers started, so two callers restarting a dependent after its dependency restart it once.
   */
  restart(instanceId: string, options?: RestartOptions): Promise<void>
  /** Stop the instance's container (a graceful stop; the engine's restart policy leaves it stopped). Optional: the supervisor's. */
  stop?(instanceId: string): Promise<void>
  /**
   * Resolve once the spec's container answers its readiness probe (a one-shot: once it ended with 0), whoever
   * started it; throws when it stopped. Optional: the supervisor's, on the host's own engine.
   */
  ready?(spec: ContainerSpec, options?: {signal?: AbortSignal}): Promise<void>
  /** The containers of this installation on the host; `legacy` adds those from before installation labels (anyone's), marked. */
  list(options?: {legacy?: boolean}): Promise<ContainerState[]>
  facts(): Promise<HostFacts>
  /** One container's state (an adopted one's too); undefined when there is none. Optional for agents that predate it. */
  inspect?(instanceId: string): Promise<ContainerState | undefined>
  /** CPU and memory of the instance's running container; undefined when none runs. Optional for agents that predate it. */
  stats?(instanceId: string): Promise<ContainerStats | undefined>
  /**
   * The container's output as text chunks, as the engine's logging driver reads
   * it back; a driver that can't be read fails with a `LogsUnavailableError`.
   */
  logs?(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>>
}
