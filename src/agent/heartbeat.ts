import {setTimeout as sleep} from 'node:timers/promises'

import type {AgentClient} from '../core/agent.js'
import {errorMessage} from '../core/errors.js'
import {requestJson} from '../core/http.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec, EngineCondition, HostCapacity} from '../core/types.js'
import {converge} from './converger.js'
import {watchEngine} from './engine-watch.js'

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
  agent: AgentClient
  registration: Registration
  /** Tried in turn: a broker that doesn't answer hands the beat to the next. */
  brokers: string[]
  token: string
  /** CA of the brokers' TLS certificates, when private. */
  ca?: string | Buffer
  log: Logger
  /** Longest wait between attempts while no broker answers. */
  maxBackoffMs?: number
}

export interface Heartbeats {
  /** Marks an instance as changed by the broker just now: an answer older than this leaves it alone. */
  touched(instanceId: string): void
  /** Resolves after the next beat that reached a broker (tests, startup). */
  nextBeat(): Promise<void>
  stop(): Promise<void>
}

interface Answer {
  keepaliveMs?: number
  specs: ContainerSpec[]
}

/**
 * Registers the host and heartbeats every keepalive with its facts and the
 * actual state of its containers; each answer carries the desired containers,
 * and the host converges to them. No broker answering: retry with backoff
 * while the containers keep running.
 */
export function startHeartbeats(options: HeartbeatOptions): Heartbeats {
  const {agent, registration, log} = options
  const touchedAt = new Map<string, number>()
  const maxBackoffMs = options.maxBackoffMs ?? 30_000
  const stop = new AbortController()
  let waiters: Array<() => void> = []
  let registered = false
  let brokerIndex = 0
  let failures = 0
  let converging: Promise<void> | undefined
  let engineStatus: string | undefined
  // Instances a converge pass (re)made, told to the broker on the next beat so it restores their binding users.
  const reapplied = new Set<string>()

  const post = async (path: string, body: unknown): Promise<{status: number; body: unknown}> => {
    const url = `${options.brokers[brokerIndex % options.brokers.length].replace(/\/+$/, '')}/agents/v1/${path}`
    return requestJson(url, {token: options.token, ca: options.ca, method: 'POST', body, timeoutMs: Math.max(2000, registration.keepaliveMs * 2), signal: stop.signal})
  }

  // The engine is looked at beside the beats: a slow or stopped engine is reported, it never delays a beat.
  const engine = watchEngine(agent, {everyMs: registration.keepaliveMs})

  const noteEngine = (condition: EngineCondition) => {
    if (condition.status === engineStatus) return
    const why = condition.error ? `: ${condition.error}` : ''
    if (condition.status !== 'ok') log.warn(`the Docker engine is ${condition.status}${why}; heartbeats go on with what it last said`)
    else if (engineStatus) log.info('the Docker engine answers again')
    engineStatus = condition.status
  }

  const beat = async (): Promise<void> => {
    const sentAt = Date.now()
    const {facts, containers} = engine.report(sentAt)
    if (facts?.engine) noteEngine(facts.engine)
    const state = (containers ?? []).map((c) => ({instanceId: c.instanceId, status: c.status, health: c.health, restartCount: c.restartCount, specHash: c.specHash}))
    const applied = [...reapplied]
    let response = registered ? await post('heartbeat', {id: registration.id, facts, containers: state, applied}) : undefined
    if (!response || response.status === 404) {
      response = await post('register', {...registration, facts, containers: state, applied})
      if (response.status < 300) {
        if (!registered) log.info(`registered host ${registration.id} with ${options.brokers[brokerIndex % options.brokers.length]}`)
        registered = true
      }
    }
    if (response.status >= 300) {
      const description = (response.body as {description?: string} | undefined)?.description
      throw new Error(`the broker answered ${response.status}${description ? `: ${description}` : ''}`)
    }
    for (const id of applied) reapplied.delete(id)
    const answer = response.body as Answer
    for (const w of waiters) w()
    waiters = []
    // A change the broker made after this beat was sent is newer than the answer: leave it to the broker.
    const specs = answer.specs.filter((s) => (touchedAt.get(s.instanceId) ?? 0) < sentAt)
    // Converging may take long (images, readiness): it must not delay the next heartbeat, and one pass runs at a time.
    // A stopped engine would fail the pass: converge again once it answers.
    if (converging || facts?.engine?.status === 'down') return
    converging = converge(agent, specs, log)
      .then((result) => {
        for (const id of result.applied) reapplied.add(id)
        for (const f of result.failed) log.warn(`instance ${f.instanceId} stays down: ${f.error}`)
      })
      .catch((error) => log.warn(`converging failed: ${errorMessage(error)}`))
      .finally(() => {
        converging = undefined
      })
  }

  const loop = (async () => {
    // The first registration waits a little for the engine's facts, never more than one interval.
    await Promise.race([engine.first, sleep(registration.keepaliveMs, undefined, {signal: stop.signal}).catch(() => undefined)])
    while (!stop.signal.aborted) {
      const startedAt = Date.now()
      let waitMs: number
      try {
        await beat()
        if (failures > 0) log.info(`the broker answers again after ${failures} failed attempt(s)`)
        failures = 0
        // Beats keep their schedule: a slow answer shortens the pause, it does not push the next beat out.
        waitMs = registration.keepaliveMs - (Date.now() - startedAt)
      } catch (error) {
        if (stop.signal.aborted) break
        failures++
        brokerIndex++
        // Exponential backoff with jitter, capped; containers keep running meanwhile.
        waitMs = Math.min(maxBackoffMs, registration.keepaliveMs * 2 ** Math.min(failures - 1, 6)) * (0.75 + Math.random() / 2)
        if (failures === 1 || failures % 10 === 0) log.warn(`heartbeat failed (${failures}x): ${errorMessage(error)}; next try in ${Math.round(waitMs)} ms`)
      }
      for (const [id, at] of touchedAt) if (Date.now() - at > 10 * 60_000) touchedAt.delete(id)
      if (waitMs > 0) await sleep(waitMs, undefined, {signal: stop.signal}).catch(() => undefined)
    }
  })()

  return {
    touched(instanceId) {
      touchedAt.set(instanceId, Date.now())
    },
    nextBeat() {
      return new Promise((resolve) => waiters.push(resolve))
    },
    async stop() {
      stop.abort()
      await loop
      await engine.stop()
      await converging
    },
  }
}
