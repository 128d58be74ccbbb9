import {setTimeout as sleep} from 'node:timers/promises'

import type {AgentClient} from '../core/agent.js'
import {errorMessage} from '../core/errors.js'
import type {ContainerState, EngineCondition, HostFacts} from '../core/types.js'

/** What a heartbeat tells of the host: the last known facts (with the engine's condition) and container states. */
export interface EngineReport {
  /** Null until the engine answered once. */
  facts: HostFacts | null
  /** Null until the engine answered once. */
  containers: ContainerState[] | null
}

export interface EngineWatch {
  /** The last known state, never waiting on the engine. */
  report(now?: number): EngineReport
  /** Resolves when the first look ended, answered or not. */
  readonly first: Promise<void>
  stop(): Promise<void>
}

export interface EngineWatchOptions {
  /** Pause between the end of one look and the start of the next. */
  everyMs: number
  /** A look that takes longer makes the engine `slow`; two intervals, at most 2 s, by default. */
  slowMs?: number
  /** A look still unanswered after this makes the engine `down`. */
  downMs?: number
}

/**
 * Looks at the engine (facts and every labelled container) in the background,
 * one look at a time, so the heartbeat sends the last known state on its own
 * schedule however slow the engine is. A look that fails or hangs is a fact
 * about the engine, reported with the state it last gave.
 */
export function watchEngine(agent: Pick<AgentClient, 'facts' | 'list'>, options: EngineWatchOptions): EngineWatch {
  const slowMs = options.slowMs ?? Math.min(2000, 2 * options.everyMs)
  const downMs = options.downMs ?? 30_000
  const stop = new AbortController()
  let facts: HostFacts | null = null
  let containers: ContainerState[] | null = null
  let observedAt = 0
  let lookingSince: number | undefined
  let lastDurationMs = 0
  let lastError: string | undefined
  let markFirst: () => void = () => undefined
  const first = new Promise<void>((resolve) => (markFirst = resolve))

  const look = async () => {
    const startedAt = Date.now()
    lookingSince = startedAt
    try {
      const [f, c] = await Promise.all([agent.facts(), agent.list()])
      facts = f
      containers = c
      observedAt = startedAt
      lastError = undefined
    } catch (error) {
      lastError = `the Docker engine does not answer: ${errorMessage(error)}`
    } finally {
      lastDurationMs = Date.now() - startedAt
      lookingSince = undefined
      markFirst()
    }
  }

  // A hung engine call must not hold up stop(): the loop leaves it behind.
  const stopped = new Promise((resolve) => stop.signal.addEventListener('abort', resolve, {once: true}))
  const loop = (async () => {
    while (!stop.signal.aborted) {
      await Promise.race([look(), stopped])
      await sleep(options.everyMs, undefined, {signal: stop.signal}).catch(() => undefined)
    }
  })()

  const condition = (now: number): EngineCondition => {
    const ageMs = Math.max(0, now - observedAt)
    const waiting = lookingSince === undefined ? 0 : now - lookingSince
    if (lastError) return {status: 'down', ageMs, error: lastError}
    if (waiting > downMs)
      return {status: 'down', ageMs, error: `the Docker engine has not answered for ${Math.round(waiting / 1000)} s`}
    if (waiting > slowMs || lastDurationMs > slowMs) return {status: 'slow', ageMs}
    return {status: 'ok', ageMs}
  }

  return {
    first,
    report(now = Date.now()) {
      return {facts: facts && {...facts, engine: condition(now)}, containers}
    },
    async stop() {
      stop.abort()
      await loop
    },
  }
}
