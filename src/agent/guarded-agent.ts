import type {ContainerStats, LogOptions} from '../core/admin.js'
import type {AgentClient, ApplyOptions, ExecOptions, ExecResult, RestartOptions} from '../core/agent.js'
import {LogsUnavailableError} from '../core/errors.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../core/types.js'
import {InstanceQueue} from './instance-queue.js'

/** How long a broker's command is remembered: no desired state is older than this when it is applied. */
const COMMAND_MEMORY_MS = 10 * 60_000

/** What the supervisor knows of a container beyond what the engine says (restarts, last exit, failing). */
export interface ContainerAnnotations {
  annotate(state: ContainerState): ContainerState
  /** The broker applied the instance anew: what was known of its failures is over. */
  applied(instanceId: string): void
  /** Whether the container failed too often to be restarted again now. */
  failing(instanceId: string): boolean
}

/**
 * The agent every caller uses: the broker's commands (in-process for `up`,
 * through the agent API for a remote host) and convergence. Calls for one
 * instance run one after another, and convergence never undoes a newer
 * command: each broker apply or remove is stamped with a generation, and a
 * convergence apply computed at an older generation (`asOf`) leaves that
 * instance alone. A remove is a tombstone; the broker's next apply clears it.
 */
export class GuardedAgent implements AgentClient {
  private generation = 0
  private readonly commands = new Map<string, {generation: number; at: number}>()
  private readonly queue = new InstanceQueue()
  private annotations: ContainerAnnotations | undefined
  /** Per instance: stops the agent makes on purpose (remove, restart) running now, when the last began and ended (ms epoch). */
  private readonly acting = new Map<string, {running: number; since: number; endedAt: number}>()

  constructor(readonly inner: AgentClient) {}

  /** The generation a desired state computed from now on is at. */
  currentGeneration(): number {
    return this.generation
  }

  /** Whether the broker changed the instance after a desired state at `asOf` was computed. */
  changedSince(instanceId: string, asOf: number): boolean {
    return (this.commands.get(instanceId)?.generation ?? -1) > asOf
  }

  describeWith(annotations: ContainerAnnotations): void {
    this.annotations = annotations
  }

  private command(instanceId: string): void {
    const now = Date.now()
    for (const [id, c] of this.commands) if (now - c.at > COMMAND_MEMORY_MS) this.commands.delete(id)
    this.commands.set(instanceId, {generation: ++this.generation, at: now})
  }

  /**
   * Whether a death of the instance's container at `atMs` was the agent's own stop (a remove, or a restart's
   * stop): no failure then. One after the container started again within that stop (`lastStartMs`: a restart's
   * own start, or the engine's) is a crash, and so is one from before the agent began.
   */
  actedOn(instanceId: string, atMs: number, lastStartMs = 0): boolean {
    const acting = this.acting.get(instanceId)
    if (!acting || !(acting.running > 0 || acting.endedAt >= atMs)) return false
    // Engine event times carry sub-millisecond parts; Date.now() doesn't.
    if (atMs < acting.since - 1) return false
    return !(lastStartMs >= acting.since - 1 && lastStartMs <= atMs)
  }

  /** Resolves once the calls for the instance queued so far have ended. */
  idle(instanceId: string): Promise<void> {
    return this.queue.idle(instanceId)
  }

  private stopping<T>(instanceId: string, work: () => Promise<T>): Promise<T> {
    return this.queue.run(instanceId, () => this.act(instanceId, work))
  }

  /** Work that may stop the instance's container on purpose: its deaths meanwhile, before it starts again, are the agent's. */
  private async act<T>(instanceId: string, work: () => Promise<T>): Promise<T> {
    const acting = this.acting.get(instanceId) ?? {running: 0, since: 0, endedAt: 0}
    this.acting.set(instanceId, acting)
    if (acting.running++ === 0) acting.since = Date.now()
    try {
      return await work()
    } finally {
      acting.running--
      acting.endedAt = Date.now()
    }
  }

  apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    const {asOf, ...rest} = options
    if (asOf === undefined) this.command(spec.instanceId)
    return this.queue.run(spec.instanceId, async () => {
      // Checked when its turn comes, so a remove queued before it wins.
      if (asOf !== undefined && this.changedSince(spec.instanceId, asOf)) return untouched(spec)
      // The broker's apply starts the count anew: failures from before it don't make it fail.
      if (asOf === undefined) this.annotations?.applied(spec.instanceId)
      const failing = () => this.annotations?.failing(spec.instanceId) ?? false
      // A container recreated for a new spec (or a disk resize, or made confined) is stopped on purpose.
      const state = await this.act(spec.instanceId, () => this.inner.apply(spec, {...rest, failing}))
      if (asOf === undefined) this.annotations?.applied(spec.instanceId)
      return state
    })
  }

  remove(instanceId: string, options?: {keepData?: boolean}): Promise<void> {
    this.command(instanceId)
    return this.stopping(instanceId, () => this.inner.remove(instanceId, options))
  }

  restart(instanceId: string, options?: RestartOptions): Promise<void> {
    return this.stopping(instanceId, () => this.inner.restart(instanceId, options))
  }

  /** Without a stop of its own, the inner agent is not stopped at all: the dependents' restart then does both. */
  async stop(instanceId: string): Promise<void> {
    const inner = this.inner
    if (inner.stop) await this.stopping(instanceId, () => inner.stop!(instanceId))
  }

  /** Not queued: it only looks, and waits on no call of the instance (a restart with a 10 s grace, say). */
  async ready(spec: ContainerSpec, options?: {signal?: AbortSignal}): Promise<void> {
    if (this.inner.ready) await this.inner.ready(spec, options)
    else await this.idle(spec.instanceId)
  }

  exec(instanceId: string, command: string[], env: Record<string, string>, options?: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(instanceId, command, env, options)
  }

  async list(options?: {legacy?: boolean}): Promise<ContainerState[]> {
    const states = await this.inner.list(options)
    const annotations = this.annotations
    return annotations ? states.map((s) => annotations.annotate(s)) : states
  }

  facts(): Promise<HostFacts> {
    return this.inner.facts()
  }

  async inspect(instanceId: string): Promise<ContainerState | undefined> {
    const state = await this.inner.inspect?.(instanceId)
    const annotations = this.annotations
    return state && annotations ? annotations.annotate(state) : state
  }

  async stats(instanceId: string): Promise<ContainerStats | undefined> {
    return this.inner.stats?.(instanceId)
  }

  logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    if (!this.inner.logs) throw new LogsUnavailableError('this agent cannot read logs')
    return this.inner.logs(instanceId, options)
  }
}

/** What a convergence apply the guard refused answers: nothing was done. */
function untouched(spec: ContainerSpec): ContainerState {
  return {
    instanceId: spec.instanceId,
    containerId: '',
    name: spec.name,
    image: spec.image,
    status: 'missing',
    health: 'none',
    restartCount: 0,
  }
}
