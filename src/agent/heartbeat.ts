import {setTimeout as sleep} from 'node:timers/promises'

import type {AgentClient} from '../core/agent.js'
import {errorMessage} from '../core/errors.js'
import {requestJson} from '../core/http.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec, HostCapacity} from '../core/types.js'
import {converge} from './converger.js'

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
  /** Told the installation the broker's answer names, before converging to its specs. */
  onInstallation?: (id: string) => void
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
  /** The broker's installation: the agent acts only on containers labelled with it. */
  installation?: string
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
  let installation: string | undefined
  // Instances a converge pass (re)made, told to the broker on the next beat so it restores their binding users.
  const reapplied = new Set<string>()

  const post = async (path: string, body: unknown): Promise<{status: number; body: unknown}> => {
    const url = `${options.brokers[brokerIndex % options.brokers.length].replace(/\/+$/, '')}/agents/v1/${path}`
    return requestJson(url, {token: options.token, ca: options.ca, method: 'POST', body, timeoutMs: Math.max(2000, registration.keepaliveMs * 2), signal: stop.signal})
  }

  const beat = async (): Promise<void> => {
    const sentAt = Date.now()
    const [facts, containers] = await Promise.all([agent.facts(), agent.list()]).catch((error: unknown) => {
      throw Object.assign(new Error(`the Docker engine does not answer: ${errorMessage(error)}`), {engine: true})
    })
    const state = containers.map((c) => ({instanceId: c.instanceId, status: c.status, health: c.health, restartCount: c.restartCount, specHash: c.specHash}))
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
    if (answer.installation && answer.installation !== installation) {
      if (installation) log.warn(`the broker now names installation ${answer.installation} (was ${installation}): only its containers are this agent's from now on`)
      installation = answer.installation
      options.onInstallation?.(installation)
    } else if (!answer.installation && !installation) {
      throw new Error('the broker did not say which installation this host serves (is it older than this agent?); nothing is converged until it does')
    }
    for (const w of waiters) w()
    waiters = []
    // A change the broker made after this beat was sent is newer than the answer: leave it to the broker.
    const specs = answer.specs.filter((s) => (touchedAt.get(s.instanceId) ?? 0) < sentAt)
    // Converging may take long (images, readiness): it must not delay the next heartbeat, and one pass runs at a time.
    if (converging) return
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
    while (!stop.signal.aborted) {
      let waitMs = registration.keepaliveMs
      try {
        await beat()
        if (failures > 0) log.info(`the broker answers again after ${failures} failed attempt(s)`)
        failures = 0
      } catch (error) {
        if (stop.signal.aborted) break
        if ((error as {engine?: boolean}).engine) {
          // The engine is down: no heartbeat (the host can't run anything), and look again at the next beat.
          log.warn(errorMessage(error))
        } else {
          failures++
          brokerIndex++
          // Exponential backoff with jitter, capped; containers keep running meanwhile.
          waitMs = Math.min(maxBackoffMs, registration.keepaliveMs * 2 ** Math.min(failures - 1, 6)) * (0.75 + Math.random() / 2)
          if (failures === 1 || failures % 10 === 0) log.warn(`heartbeat failed (${failures}x): ${errorMessage(error)}; next try in ${Math.round(waitMs)} ms`)
        }
      }
      for (const [id, at] of touchedAt) if (Date.now() - at > 10 * 60_000) touchedAt.delete(id)
      await sleep(waitMs, undefined, {signal: stop.signal}).catch(() => undefined)
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
      await converging
    },
  }
}
