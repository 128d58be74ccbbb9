import type {AgentClient} from '../../core/agent.js'
import type {Clock} from './context.js'

/** How long a host must have had no apply in flight before background work starts there. */
export const SETTLE_MS = 150

/**
 * The container applies this broker has in flight per host, so background
 * work that runs execs in containers (making spare users) waits until a burst
 * of provisions has started: 20 provisions at once took 1.4 × what the engine
 * needs for the same 20 containers while the first ones' spare users were being
 * made beside the later ones' starts, 1.1 × without them (bench/all.mjs).
 */
export class HostActivity {
  private readonly applying = new Map<string, number>()
  private readonly lastEnd = new Map<string, number>()
  private readonly idle = new Map<string, Array<() => void>>()

  constructor(private readonly clock: Clock) {}

  /** `client` whose applies count as the host's activity. */
  watch(hostId: string, client: AgentClient): AgentClient {
    return new Proxy(client, {
      get: (object, property) => {
        const value: unknown = Reflect.get(object, property, object)
        if (property !== 'apply' || typeof value !== 'function') return value
        return (...args: Parameters<AgentClient['apply']>) => this.track(hostId, () => object.apply(...args))
      },
    })
  }

  /** Whether an apply runs on the host now. */
  busy(hostId: string): boolean {
    return (this.applying.get(hostId) ?? 0) > 0
  }

  /** Whether the host has had no apply in flight for SETTLE_MS. */
  quiet(hostId: string): boolean {
    return !this.busy(hostId) && this.clock.now() - (this.lastEnd.get(hostId) ?? -Infinity) >= SETTLE_MS
  }

  /** Resolves once the host has had no apply in flight for SETTLE_MS (at once if it had none for longer). */
  async whenIdle(hostId: string): Promise<void> {
    for (;;) {
      if (this.busy(hostId)) {
        await new Promise<void>((resolve) => this.idle.set(hostId, [...(this.idle.get(hostId) ?? []), resolve]))
        continue
      }
      if (this.quiet(hostId)) return
      await this.clock.sleep(SETTLE_MS - (this.clock.now() - (this.lastEnd.get(hostId) ?? 0)))
    }
  }

  private async track<T>(hostId: string, work: () => Promise<T>): Promise<T> {
    this.applying.set(hostId, (this.applying.get(hostId) ?? 0) + 1)
    try {
      return await work()
    } finally {
      const left = (this.applying.get(hostId) ?? 1) - 1
      this.lastEnd.set(hostId, this.clock.now())
      if (left > 0) this.applying.set(hostId, left)
      else {
        this.applying.delete(hostId)
        const waiting = this.idle.get(hostId) ?? []
        this.idle.delete(hostId)
        for (const resolve of waiting) resolve()
      }
    }
  }
}
