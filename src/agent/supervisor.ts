import {setTimeout as sleep} from 'node:timers/promises'

import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec, ContainerState} from '../core/types.js'
import {type Engine, LABEL_INSTALLATION, LABEL_INSTANCE} from '../docker/engine.js'
import type {ConvergenceLoop} from './convergence-loop.js'
import {Dependents} from './dependents.js'
import {untilEngineActs} from './engine-restart.js'
import type {ContainerAnnotations, GuardedAgent} from './guarded-agent.js'

/** Failures allowed within the window before a container is `failing`, unless its spec says otherwise. */
export const DEFAULT_SUPERVISION = {maxRestarts: 5, windowMs: 5 * 60_000}
/** The first restart is at once; each further one in the window waits twice as long, up to the cap. */
const BACKOFF_BASE_MS = 250
const BACKOFF_CAP_MS = 30_000
/** How soon a lost event stream is opened again. */
const RECONNECT_MS = 500

export interface SupervisorOptions {
  engine: Engine
  agent: GuardedAgent
  loop: ConvergenceLoop
  log: Logger
}

/** One engine event about a container, as the stream sends it. */
interface ContainerEvent {
  Type?: string
  Action?: string
  Actor?: {ID?: string; Attributes?: Record<string, string>}
  timeNano?: number
  time?: number
}

interface Record_ {
  failures: number[]
  restartCount: number
  lastExitCode?: number
  oomKilled?: boolean
  /** A failure was seen and the container has not started since. */
  down: boolean
  /** When the container last started, by the engine's event (ms epoch); 0 before any was seen. */
  startedAt: number
  /** What the last failure was: an exit needs a start, an unhealthy container a restart. */
  why: 'exited' | 'unhealthy'
  failing: boolean
  retryAt: number
  timer?: NodeJS.Timeout
}

/**
 * Follows the engine's events for this installation's containers. A container
 * that dies or turns unhealthy (and that the agent did not stop itself) is
 * brought back through the convergence loop, at once and then with backoff;
 * past `maxRestarts` failures in `windowMs` it is `failing` and left alone
 * until its failures age out. Its dependents stop when it dies and start (or
 * restart) once it is ready again, whoever started it (the loop, the broker,
 * the engine's own restart policy): see dependents.ts.
 */
export class Supervisor implements ContainerAnnotations {
  private readonly records = new Map<string, Record_>()
  private readonly stopping = new AbortController()
  private readonly dependents: Dependents
  private watching: Promise<void> | undefined
  private installation: string | undefined
  private stream: NodeJS.ReadableStream | undefined

  constructor(private readonly options: SupervisorOptions) {
    this.dependents = new Dependents({...options, signal: this.stopping.signal})
  }

  /** Follow this installation's containers (again, when a broker names another). */
  watch(installation: string): void {
    if (installation === this.installation) return
    this.installation = installation
    ;(this.stream as unknown as {destroy?: () => void} | undefined)?.destroy?.()
    this.watching ??= this.follow()
  }

  /** Whether a convergence pass should leave the instance alone: it is backing off, failing, or waits for a dependency. */
  held = (instanceId: string): boolean => {
    if (this.dependents.held(instanceId)) return true
    const record = this.records.get(instanceId)
    if (!record) return false
    this.age(record, Date.now(), this.supervision(instanceId))
    return record.failing || Date.now() < record.retryAt
  }

  annotate(state: ContainerState): ContainerState {
    const record = this.records.get(state.instanceId)
    if (!record) return state
    // Reports come every beat: a failing container that runs again (the engine's policy) is no longer failing once its failures aged out.
    this.age(record, Date.now(), this.supervision(state.instanceId))
    return {
      ...state,
      restartCount: Math.max(state.restartCount, record.restartCount),
      ...(record.lastExitCode === undefined ? {} : {lastExitCode: record.lastExitCode}),
      ...(record.oomKilled ? {oomKilled: true} : {}),
      ...(record.failing ? {failing: true} : {}),
    }
  }

  failing(instanceId: string): boolean {
    return this.records.get(instanceId)?.failing ?? false
  }

  applied(instanceId: string): void {
    clearTimeout(this.records.get(instanceId)?.timer)
    this.records.delete(instanceId)
  }

  async stop(): Promise<void> {
    this.stopping.abort()
    ;(this.stream as unknown as {destroy?: () => void} | undefined)?.destroy?.()
    for (const record of this.records.values()) clearTimeout(record.timer)
    await this.watching
  }

  private async follow(): Promise<void> {
    let lost = false
    while (!this.stopping.signal.aborted) {
      try {
        const stream = await this.options.engine.getEvents({
          filters: {type: ['container'], label: [`${LABEL_INSTALLATION}=${this.installation}`]},
        })
        this.stream = stream
        // Events missed while the stream was down (a restarted engine): the loop looks at everything once.
        if (lost) this.options.loop.kick()
        lost = false
        await this.read(stream)
      } catch (error) {
        if (!lost && !this.stopping.signal.aborted)
          this.options.log.warn(`cannot follow the engine's events: ${errorMessage(error)}; trying again`)
      }
      lost = true
      await sleep(RECONNECT_MS, undefined, {signal: this.stopping.signal}).catch(() => undefined)
    }
  }

  private read(stream: NodeJS.ReadableStream): Promise<void> {
    return new Promise((resolve) => {
      let buffered = ''
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        let newline: number
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim()
          buffered = buffered.slice(newline + 1)
          if (!line) continue
          try {
            this.handle(JSON.parse(line) as ContainerEvent)
          } catch (error) {
            this.options.log.warn(`cannot read an engine event: ${errorMessage(error)}`)
          }
        }
      })
      stream.on('end', resolve)
      stream.on('close', resolve)
      stream.on('error', resolve)
    })
  }

  private handle(event: ContainerEvent): void {
    const attributes = event.Actor?.Attributes ?? {}
    const instanceId = attributes[LABEL_INSTANCE]
    if (event.Type !== 'container' || !instanceId || attributes[LABEL_INSTALLATION] !== this.installation) return
    const at = event.timeNano ? event.timeNano / 1e6 : (event.time ?? 0) * 1000
    const action = event.Action ?? ''
    const record = this.record(instanceId)
    if (action === 'oom') record.oomKilled = true
    else if (action === 'die') {
      if (attributes.exitCode !== undefined) record.lastExitCode = Number(attributes.exitCode)
      // A death within the agent's own restart counts once the restart started it: it crashed again.
      const stoppedByAgent = this.options.agent.actedOn(instanceId, at, record.startedAt)
      if (!stoppedByAgent && !this.meantToEnd(instanceId, record.lastExitCode)) {
        this.failed(instanceId, 'exited')
        // Brought back (not failing): its dependents stop while it is down, and start once it is ready.
        if (!record.failing) this.dependents.down(instanceId)
      }
    } else if (action === 'health_status: unhealthy') {
      // Failed while the agent itself stops it (a restart that waits out a busy server's SIGTERM): that restart is
      // the cure already; a second one after it would be another outage.
      if (!this.options.agent.actedOn(instanceId, at, record.startedAt)) this.failed(instanceId, 'unhealthy')
    } else if (action === 'start') {
      record.startedAt = at
      this.started(instanceId, at)
    } else if (action === 'destroy' && !this.options.agent.actedOn(instanceId, at)) this.options.loop.kick()
  }

  /** A one-shot container (`restart: no`) that ended with code 0 is done; so is `on-failure` after code 0. */
  private meantToEnd(instanceId: string, exitCode: number | undefined): boolean {
    const restart = this.spec(instanceId)?.restart
    return exitCode === 0 && (restart === 'no' || restart === 'on-failure')
  }

  private record(instanceId: string): Record_ {
    let record = this.records.get(instanceId)
    if (!record) {
      record = {failures: [], restartCount: 0, down: false, startedAt: 0, why: 'exited', failing: false, retryAt: 0}
      this.records.set(instanceId, record)
    }
    return record
  }

  private spec(instanceId: string): ContainerSpec | undefined {
    return this.options.loop.latest?.specs.find((s) => s.instanceId === instanceId)
  }

  private supervision(instanceId: string): {maxRestarts: number; windowMs: number} {
    return {...DEFAULT_SUPERVISION, ...this.spec(instanceId)?.supervision}
  }

  /** Failures older than the window no longer count; a failing container whose failures aged out is tried again. */
  private age(record: Record_, now: number, supervision: {windowMs: number}): void {
    record.failures = record.failures.filter((at) => now - at < supervision.windowMs)
    if (record.failing && record.failures.length === 0) record.failing = false
  }

  private failed(instanceId: string, kind: Record_['why']): void {
    const record = this.record(instanceId)
    const now = Date.now()
    const supervision = this.supervision(instanceId)
    this.age(record, now, supervision)
    record.failures.push(now)
    record.down = true
    record.why = kind
    const why = kind === 'exited' ? `exited with code ${record.lastExitCode ?? '?'}` : 'is unhealthy'
    if (record.failures.length > supervision.maxRestarts) {
      if (!record.failing)
        this.options.log.warn(
          `instance ${instanceId} ${why}: failing, ${record.failures.length} failures within ${Math.round(supervision.windowMs / 1000)} s; not restarted until they age out`,
        )
      record.failing = true
      return
    }
    const delayMs =
      record.failures.length === 1 ? 0 : Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (record.failures.length - 2))
    record.retryAt = now + delayMs
    this.options.log.info(
      `instance ${instanceId} ${why}: restarting it${delayMs ? ` in ${delayMs} ms (failure ${record.failures.length})` : ''}`,
    )
    clearTimeout(record.timer)
    record.timer = setTimeout(() => void this.recover(instanceId), delayMs)
  }

  /**
   * A stopped container comes back through the agent's apply (the loop's path, guarded by the desired state's
   * generation), at once for this one instance rather than in a whole pass; one still unhealthy is restarted.
   * One the engine started again by its restart policy is left as it is: restarting that too would be a
   * second outage.
   */
  private async recover(instanceId: string): Promise<void> {
    const spec = this.spec(instanceId)
    const desired = this.options.loop.latest
    const record = this.records.get(instanceId)
    // Started meanwhile (the engine's restart policy, the broker): nothing to do.
    if (this.stopping.signal.aborted || !spec || !desired || !record?.down) return
    try {
      const info = await untilEngineActs(this.options.engine, spec.name, this.stopping.signal)
      // Waiting out a long delay of the engine's (it doubles while a container keeps dying): a restart starts it now.
      // On a host too busy for the engine to keep its own time, its start may still meet the restart: 1 s, not 10.
      if (info?.State.Restarting) await this.options.agent.restart(instanceId, {stopTimeoutSeconds: 1})
      else if (info?.State.Running) {
        if (record.why === 'unhealthy' && info.State.Health?.Status === 'unhealthy')
          await this.options.agent.restart(instanceId)
      } else {
        await this.options.agent.apply(spec, {asOf: desired.asOf})
        // Made again outside a pass (a container removed behind dbroker's back): its binding users come back too.
        await this.options.loop.applied([instanceId])
      }
    } catch (error) {
      this.options.log.warn(`cannot restart instance ${instanceId}: ${errorMessage(error)}`)
      this.options.loop.kick()
    }
  }

  private started(instanceId: string, at: number): void {
    const record = this.record(instanceId)
    if (record.down) {
      record.restartCount++
      record.down = false
    }
    this.dependents.up(instanceId, at)
  }
}
