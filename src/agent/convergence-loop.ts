import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec} from '../core/types.js'
import {converge, type ConvergeResult} from './converger.js'
import type {GuardedAgent} from './guarded-agent.js'

/** The containers a host should run, and the agent's generation when they were computed. */
export interface DesiredState {
  specs: ContainerSpec[]
  /** From `GuardedAgent.currentGeneration()` before the broker computed the specs. */
  asOf: number
}

export interface ConvergenceLoopOptions {
  agent: GuardedAgent
  log: Logger
  /** Instances a pass leaves alone (the supervisor's backoff and failing ones). */
  held?: (instanceId: string) => boolean
}

/**
 * The host's one convergence loop: fed by the heartbeat answer (remote agent),
 * the broker in-process (`up`) and the supervisor. One pass at a time; desired
 * state that arrives meanwhile is taken by one more pass right after, so
 * nothing waits for the next heartbeat and nothing runs twice at once.
 */
export class ConvergenceLoop {
  private desired: DesiredState | undefined
  private running: Promise<void> | undefined
  private again = false
  private stopped = false
  private readonly listeners: Array<(result: ConvergeResult) => void | Promise<void>> = []
  private readonly appliedListeners: Array<(instanceIds: string[]) => void | Promise<void>> = []

  constructor(private readonly options: ConvergenceLoopOptions) {}

  /** The desired state last given; undefined until the first. */
  get latest(): DesiredState | undefined {
    return this.desired
  }

  /** Told after each pass, with what it applied, failed on and found unknown (re-made instances: `onApplied`). */
  afterPass(listener: (result: ConvergeResult) => void | Promise<void>): void {
    this.listeners.push(listener)
  }

  /**
   * Told of every instance whose container an apply (re)made or started, in a pass or outside one (the
   * supervisor's): its volume may be new, so its binding users come back from the store.
   */
  onApplied(listener: (instanceIds: string[]) => void | Promise<void>): void {
    this.appliedListeners.push(listener)
  }

  /** An apply outside a pass (the supervisor bringing back a lost container) made these instances' containers. */
  async applied(instanceIds: string[]): Promise<void> {
    if (instanceIds.length === 0) return
    for (const listener of this.appliedListeners) await listener(instanceIds)
  }

  /** Converge to this desired state (an older one than the last given is ignored). */
  want(desired: DesiredState): void {
    if (this.desired && desired.asOf < this.desired.asOf) return
    this.desired = desired
    this.kick()
  }

  /** Converge again to the last desired state: a container died, or the engine is back. */
  kick(): void {
    if (this.stopped || !this.desired) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.run().finally(() => {
      this.running = undefined
    })
  }

  /** Resolves once no pass runs and none is due. */
  async settled(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.settled()
  }

  private async run(): Promise<void> {
    do {
      this.again = false
      const desired = this.desired!
      try {
        const result = await converge(this.options.agent, desired.specs, this.options.log, {
          asOf: desired.asOf,
          held: this.options.held,
        })
        await this.applied(result.applied)
        for (const listener of this.listeners) await listener(result)
      } catch (error) {
        this.options.log.warn(`converging failed: ${errorMessage(error)}`)
      }
    } while (this.again && !this.stopped)
  }
}
