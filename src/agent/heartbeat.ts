import {setTimeout as sleep} from 'node:timers/promises'

import {errorMessage} from '../core/errors.js'
import {requestJson} from '../core/http.js'
import type {Logger} from '../core/log.js'
import {
  type AgentAnswer,
  agentAnswer,
  AGENTS_PREFIX,
  AGENTS_ROUTES,
  describeIssues,
  type HeartbeatRequest,
  type RegisterRequest,
} from '../core/protocol.js'
import type {EngineCondition, HostCapacity} from '../core/types.js'
import type {ConvergenceLoop} from './convergence-loop.js'
import {watchEngine} from './engine-watch.js'
import type {GuardedAgent} from './guarded-agent.js'

export interface Registration {
  id: string
  agentUrl: string
  serviceAddress: string
  bindAddress: string
  portRange: [number, number]
  zone: string | null
  labels: Record<string, string>
  capacity: HostCapacity
  keepaliveMs: number
}

export interface HeartbeatOptions {
  agent: GuardedAgent
  /** Each answer's desired containers go to it. */
  loop: ConvergenceLoop
  registration: Registration
  /** Tried in turn: a broker that doesn't answer hands the beat to the next. */
  brokers: string[]
  token: string
  /** CA of the brokers' TLS certificates, when private. */
  ca?: string | Buffer
  log: Logger
  /** Longest time between the starts of two attempts while no broker answers; 2 x keepalive by default, so a healed host is back within two beats. */
  maxBackoffMs?: number
  /** Told the installation the broker's answer names, before converging to its specs. */
  onInstallation?: (id: string) => void
  /** Told the registry settings each answer carries (null or absent: none asked for). */
  onRegistry?: (settings: AgentAnswer['registry']) => void
}

/** Default backoff cap, in keepalives. */
export const BACKOFF_CAP_KEEPALIVES = 2

/**
 * The wait before attempt `failures + 1`: doubling from one keepalive, with
 * jitter below the cap only, so no attempt starts later than `capMs` after the last.
 */
export function backoffMs(failures: number, keepaliveMs: number, capMs: number, random = Math.random()): number {
  const grown = keepaliveMs * 2 ** Math.min(Math.max(failures - 1, 0), 16)
  return Math.min(capMs, grown) * (0.75 + random / 4)
}

/**
 * Logs a run of failed heartbeats: each distinct reason once, and one summary
 * when a broker answers again (how many attempts failed, for how long, why).
 */
export class FailureLog {
  private reasons = new Map<string, number>()
  private since = 0
  private attempts = 0

  constructor(private readonly log: Logger) {}

  failed(reason: string, nextInMs: number, now = Date.now()): void {
    if (this.attempts === 0) this.since = now
    this.attempts++
    // Addresses and ports differ per attempt only in numbers: the same failure is one reason.
    const key = reason.replace(/\d+/g, '#')
    const seen = this.reasons.get(key)
    this.reasons.set(key, (seen ?? 0) + 1)
    if (seen === undefined)
      this.log.warn(`heartbeat failed: ${reason}; trying again every ${Math.round(nextInMs)} ms or less while it fails`)
  }

  recovered(now = Date.now()): void {
    if (this.attempts === 0) return
    const why = [...this.reasons].map(([reason, n]) => `${n}x ${reason}`).join('; ')
    this.log.info(
      `the broker answers again after ${this.attempts} failed heartbeat(s) over ${Math.round((now - this.since) / 1000)} s (${why})`,
    )
    this.reasons = new Map()
    this.attempts = 0
  }
}

export interface Heartbeats {
  /** Resolves after the next beat that reached a broker (tests, startup). */
  nextBeat(): Promise<void>
  /** A broker looked for this agent: while beats fail, try the next one now instead of waiting out the backoff. */
  wake(): void
  stop(): Promise<void>
}

/**
 * Registers the host and heartbeats every keepalive with its facts and the
 * actual state of its containers; each answer carries the desired containers,
 * and the host converges to them. No broker answering: retry with backoff
 * while the containers keep running.
 */
export function startHeartbeats(options: HeartbeatOptions): Heartbeats {
  const {agent, registration, log} = options
  const maxBackoffMs = options.maxBackoffMs ?? BACKOFF_CAP_KEEPALIVES * registration.keepaliveMs
  const stop = new AbortController()
  const failureLog = new FailureLog(log)
  let pause: AbortController | undefined
  let lastWake = 0
  let waiters: Array<() => void> = []
  let registered = false
  let brokerIndex = 0
  let failures = 0
  let engineStatus: string | undefined
  let installation: string | undefined
  // Instances an apply (re)made, in a pass or by the supervisor, told to the broker on the next beat so it restores
  // their binding users.
  const reapplied = new Set<string>()
  options.loop.onApplied((instanceIds) => {
    for (const id of instanceIds) reapplied.add(id)
  })

  const post = async (
    route: keyof typeof AGENTS_ROUTES,
    body: RegisterRequest | HeartbeatRequest,
  ): Promise<{status: number; body: unknown}> => {
    const broker = options.brokers[brokerIndex % options.brokers.length].replace(/\/+$/, '')
    const url = `${broker}${AGENTS_PREFIX}${AGENTS_ROUTES[route]}`
    // While beats fail, an attempt gives up by the cap, so the next one starts on time.
    const timeoutMs = failures > 0 ? Math.max(1000, maxBackoffMs) : Math.max(2000, registration.keepaliveMs * 2)
    return requestJson(url, {
      token: options.token,
      ca: options.ca,
      method: 'POST',
      body,
      timeoutMs,
      deadlineMs: timeoutMs,
      connectTimeoutMs: Math.min(timeoutMs, 5000),
      signal: stop.signal,
    })
  }

  // The engine is looked at beside the beats: a slow or stopped engine is reported, it never delays a beat.
  const engine = watchEngine(agent, {everyMs: registration.keepaliveMs})

  const noteEngine = (condition: EngineCondition) => {
    if (condition.status === engineStatus) return
    const why = condition.error ? `: ${condition.error}` : ''
    if (condition.status !== 'ok')
      log.warn(`the Docker engine is ${condition.status}${why}; heartbeats go on with what it last said`)
    else if (engineStatus) log.info('the Docker engine answers again')
    engineStatus = condition.status
  }

  const beat = async (): Promise<void> => {
    // The broker computes its answer after this: a command the agent gets from here on is newer than the answer.
    const asOf = agent.currentGeneration()
    const {facts, containers} = engine.report()
    if (facts?.engine) noteEngine(facts.engine)
    const state = (containers ?? []).map((c) => ({
      instanceId: c.instanceId,
      status: c.status,
      health: c.health,
      restartCount: c.restartCount,
      specHash: c.specHash,
      ...(c.lastExitCode === undefined ? {} : {lastExitCode: c.lastExitCode}),
      ...(c.oomKilled ? {oomKilled: true} : {}),
      ...(c.failing ? {failing: true} : {}),
    }))
    const applied = [...reapplied]
    let response = registered
      ? await post('heartbeat', {id: registration.id, facts, containers: state, applied})
      : undefined
    if (!response || response.status === 404) {
      response = await post('register', {...registration, facts, containers: state, applied})
      if (response.status < 300) {
        if (!registered)
          log.info(`registered host ${registration.id} with ${options.brokers[brokerIndex % options.brokers.length]}`)
        registered = true
      }
    }
    if (response.status >= 300) {
      const description = (response.body as {description?: string} | undefined)?.description
      throw new Error(`the broker answered ${response.status}${description ? `: ${description}` : ''}`)
    }
    for (const id of applied) reapplied.delete(id)
    const checked = agentAnswer.safeParse(response.body)
    if (!checked.success)
      throw new Error(`the broker's answer is not what this agent understands: ${describeIssues(checked.error.issues)}`)
    // The specs as sent, not zod's output: a container made before the canonical spec hash is known by the hash of its key order.
    const answer = {...checked.data, specs: (response.body as typeof checked.data).specs}
    if (answer.installation && answer.installation !== installation) {
      if (installation)
        log.warn(
          `the broker now names installation ${answer.installation} (was ${installation}): only its containers are this agent's from now on`,
        )
      installation = answer.installation
      options.onInstallation?.(installation)
    } else if (!answer.installation && !installation) {
      throw new Error(
        'the broker did not say which installation this host serves (is it older than this agent?); nothing is converged until it does',
      )
    }
    options.onRegistry?.(answer.registry)
    for (const w of waiters) w()
    waiters = []
    // A stopped engine would fail the pass: the loop converges again once it answers.
    if (facts?.engine?.status !== 'down') options.loop.want({specs: answer.specs, asOf})
  }

  const loop = (async () => {
    // The first registration waits a little for the engine's facts, never more than one interval.
    await Promise.race([
      engine.first,
      sleep(registration.keepaliveMs, undefined, {signal: stop.signal}).catch(() => undefined),
    ])
    while (!stop.signal.aborted) {
      const startedAt = Date.now()
      let waitMs: number
      try {
        await beat()
        failureLog.recovered()
        failures = 0
        // Beats keep their schedule: a slow answer shortens the pause, it does not push the next beat out.
        waitMs = registration.keepaliveMs - (Date.now() - startedAt)
      } catch (error) {
        if (stop.signal.aborted) break
        failures++
        brokerIndex++
        // Exponential backoff with jitter, capped relative to the keepalive, counted from the attempt's start; containers keep running meanwhile.
        waitMs = backoffMs(failures, registration.keepaliveMs, maxBackoffMs) - (Date.now() - startedAt)
        failureLog.failed(errorMessage(error), maxBackoffMs)
      }
      if (waitMs > 0) {
        pause = new AbortController()
        await sleep(waitMs, undefined, {signal: AbortSignal.any([stop.signal, pause.signal])}).catch(() => undefined)
        pause = undefined
      }
    }
  })()

  return {
    nextBeat() {
      return new Promise((resolve) => waiters.push(resolve))
    },
    wake() {
      // Only while failing, and at most once per half keepalive: an unauthenticated probe must not make the agent flood.
      if (failures === 0 || Date.now() - lastWake < registration.keepaliveMs / 2) return
      lastWake = Date.now()
      pause?.abort()
    },
    async stop() {
      stop.abort()
      await loop
      await engine.stop()
      // The loop is its owner's to stop; a pass this agent's answers started ends first.
      await options.loop.settled()
    },
  }
}
