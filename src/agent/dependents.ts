import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec} from '../core/types.js'
import {type Engine, inspectContainer} from '../docker/engine.js'
import type {ConvergenceLoop} from './convergence-loop.js'
import type {GuardedAgent} from './guarded-agent.js'

export interface DependentsOptions {
  engine: Engine
  agent: GuardedAgent
  loop: ConvergenceLoop
  log: Logger
  signal: AbortSignal
}

/**
 * What a container's dependents (`dependsOn`) do when it fails and comes back. They stop as soon as it dies —
 * none runs on against a dead dependency, and their stop overlaps its restart instead of following it — and
 * they start once it answers its readiness probe again, whoever started it (the supervisor, the engine's
 * restart policy). One running since before any start of its dependency (the agent's restart, a deploy's, the
 * engine's) is restarted once the dependency is ready.
 */
export class Dependents {
  /** Dependents stopped because a dependency died, and the dependency they wait for: a pass leaves them alone. */
  private readonly waiting = new Map<string, string>()

  constructor(private readonly options: DependentsOptions) {}

  /** Whether a convergence pass should leave the instance alone: it waits for its dependency to serve again. */
  held(instanceId: string): boolean {
    return this.waiting.has(instanceId)
  }

  private of(dependency: string): ContainerSpec[] {
    return (this.options.loop.latest?.specs ?? []).filter((s) => s.dependsOn?.includes(dependency))
  }

  /** The dependency died, and is brought back (by the supervisor or the engine): its dependents stop now. */
  down(dependency: string): void {
    for (const dependent of this.of(dependency)) {
      if (this.waiting.has(dependent.instanceId)) continue
      this.waiting.set(dependent.instanceId, dependency)
      this.options.log.info(
        `stopping instance ${dependent.instanceId} until ${dependency}, which it depends on, is ready`,
      )
      this.options.agent
        .stop(dependent.instanceId)
        .catch((error: unknown) =>
          this.options.log.info(`cannot stop dependent ${dependent.instanceId}: ${errorMessage(error)}`),
        )
    }
  }

  /** The dependency started (`at`, ms epoch): once it is ready, its dependents start, or restart when they ran on. */
  up(dependency: string, at: number): void {
    const specs = this.options.loop.latest?.specs ?? []
    const dependents = this.of(dependency)
    if (dependents.length === 0) return
    // Ready by its probe: each start waits on the container itself, never on the agent's queue for the instance,
    // where a restart may still be stopping it.
    const spec = specs.find((s) => s.instanceId === dependency)
    const ready = spec
      ? this.options.agent.ready(spec, {signal: this.options.signal})
      : this.options.agent.idle(dependency)
    for (const dependent of dependents) void this.after(dependent, dependency, at, ready)
  }

  private async after(dependent: ContainerSpec, dependency: string, at: number, ready: Promise<void>): Promise<void> {
    const id = dependent.instanceId
    try {
      try {
        await ready
      } catch (error) {
        // Stopped again before it was ready: its next start (the supervisor's or the engine's) brings the dependents.
        if (!this.options.signal.aborted)
          this.options.log.info(`instance ${dependency} did not become ready: ${errorMessage(error)}`)
        return
      }
      const stopped = this.waiting.get(id) === dependency
      if (stopped) this.waiting.delete(id)
      // The stop may still be under way in the dependent's queue.
      await this.options.agent.idle(id)
      const info = await inspectContainer(this.options.engine, dependent.name)
      const desired = this.options.loop.latest
      if (!info?.State.Running) {
        if (!stopped || !desired) return this.options.loop.kick()
        this.options.log.info(`starting instance ${id}: ${dependency}, which it depends on, is ready`)
        // The loop's path (guarded by the desired state's generation): a broker's newer command wins.
        await this.options.agent.apply(dependent, {asOf: desired.asOf})
        return
      }
      if (Date.parse(info.State.StartedAt) >= Math.floor(at)) return
      this.options.log.info(`restarting instance ${id}: ${dependency}, which it depends on, started`)
      // Conditional, in the instance's queue: a deploy restarting it after the same start makes it one restart.
      await this.options.agent.restart(id, {after: [dependency]})
    } catch (error) {
      this.options.log.warn(`cannot bring dependent ${id} back after ${dependency}: ${errorMessage(error)}`)
      this.options.loop.kick()
    }
  }
}
