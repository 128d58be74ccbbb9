import type {z} from 'zod'

import type {ContainerStats, LogOptions} from '../core/admin.js'
import type {AgentClient, ApplyOptions, ExecOptions, ExecResult, RestartOptions} from '../core/agent.js'
import {errorFromAnswer} from '../core/error-status.js'
import {DbrokerError, EngineError, errorMessage} from '../core/errors.js'
import {PeerError, type PeerOptions, requestJson, requestStream} from '../core/http.js'
import {
  AGENT_API_PREFIX,
  AGENT_API_ROUTES,
  containerPath,
  containerState,
  describeIssues,
  execResult,
  hostFacts,
  inspectAnswer,
  statsAnswer,
} from '../core/protocol.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../core/types.js'

const containerStates = containerState.array()

/**
 * Deadlines of the broker's calls to an agent. Every call connects afresh
 * within CONNECT_MS, so an agent that stopped answering fails the call in
 * seconds; the rest fits the operation: an apply may build or pull an image
 * and wait for readiness, an exec or restart is seconds, a look is less.
 */
export const AGENT_DEADLINES = {
  connectMs: 3000,
  /** Build, pull and the plan's readiness timeout; the agent answers once the container is ready. */
  applyMs: 15 * 60_000,
  /** exec, remove, restart. */
  actionMs: 30_000,
  /** list, facts, stats. */
  lookMs: 10_000,
  /** A log stream's headers; then it may stay quiet this long before it counts as gone (follow: never). */
  streamStartMs: 10_000,
  streamIdleMs: 30_000,
  /** The health probe of an agent the broker can't reach. */
  probeMs: 2000,
  /**
   * A call still unanswered after this has the agent probed, and again each
   * time it passes: an agent whose answers stopped coming mid-call (its
   * heartbeats still flowing) fails the probe, and that ends the call, long
   * before a 15 min apply deadline would.
   */
  watchMs: 5000,
  /** That probe's deadline: longer than the probe of a host known unreachable, so a busy agent is not taken for a cut one. */
  watchProbeMs: 5000,
}

/** The broker could not reach a host's agent, or it stopped answering mid-call: the host is unreachable outbound. */
export class AgentUnreachableError extends EngineError {
  constructor(
    readonly hostId: string,
    readonly reason: string,
  ) {
    super(
      `host ${hostId} is unreachable from the broker (broker -> agent): ${reason}`,
      'the broker retries once its probe of the agent answers again',
    )
  }
}

/** How the broker reaches one agent: the bearer that host's agent accepts (looked up per call), and a private CA. */
export interface AgentPeer extends Omit<PeerOptions, 'token'> {
  credential: () => Promise<string>
  /** Shorter deadlines (tests). */
  deadlines?: Partial<typeof AGENT_DEADLINES>
  /** Told the outcome of every call that went over the network: an answer (any status), or why none came. */
  reached?: (hostId: string, failure?: string) => void
  /** Aborts the calls in flight when the broker gives up on the host; its reason is their error. */
  cancelled?: (hostId: string) => AbortSignal
}

/**
 * `AgentClient` over the agent's HTTP API: what the broker uses for a remote
 * host. Errors keep their kind, so the broker tells an engine failure from an
 * unreachable agent.
 */
export class HttpAgentClient implements AgentClient {
  private readonly base: string
  private readonly deadlines: typeof AGENT_DEADLINES

  constructor(
    readonly hostId: string,
    agentUrl: string,
    private readonly peer: AgentPeer,
  ) {
    this.base = agentUrl.replace(/\/+$/, '') + AGENT_API_PREFIX
    this.deadlines = {...AGENT_DEADLINES, ...peer.deadlines}
  }

  private async options(): Promise<PeerOptions> {
    return {
      ca: this.peer.ca,
      token: await this.peer.credential(),
      fresh: true,
      connectTimeoutMs: this.deadlines.connectMs,
    }
  }

  /** The call's own signal joined with the host's (`cancelled`): whichever aborts first ends the call. */
  private signals(own?: AbortSignal): {signal?: AbortSignal; cancel?: AbortSignal} {
    const cancel = this.peer.cancelled?.(this.hostId)
    return {signal: cancel && own ? AbortSignal.any([own, cancel]) : (cancel ?? own), cancel}
  }

  private unreachable(error: unknown): AgentUnreachableError {
    const reason = errorMessage(error)
    this.peer.reached?.(this.hostId, reason)
    return new AgentUnreachableError(this.hostId, reason)
  }

  /** While a call with a deadline past `watchMs` runs, the agent is probed every `watchMs`; the returned function stops it. */
  private watch(deadlineMs: number): () => void {
    if (deadlineMs <= this.deadlines.watchMs || !this.peer.cancelled) return () => undefined
    // A failed probe marks the host unreachable, which aborts the host's calls in flight: this one among them.
    let probing = false
    const timer = setInterval(() => {
      if (probing) return
      probing = true
      void this.probe(this.deadlines.watchProbeMs)
        .catch(() => undefined)
        .finally(() => (probing = false))
    }, this.deadlines.watchMs)
    timer.unref()
    return () => clearInterval(timer)
  }

  /** One call; an answer is checked against `answer` (the protocol's schema), an error answer made back into its class. */
  private async call<T>(
    method: string,
    path: string,
    answer: z.ZodType<T> | undefined,
    body?: unknown,
    options: {deadlineMs?: number; signal?: AbortSignal} = {},
  ): Promise<T> {
    const peer = await this.options()
    const deadlineMs = options.deadlineMs ?? this.deadlines.lookMs
    const {signal, cancel} = this.signals(options.signal)
    const unwatch = this.watch(deadlineMs)
    let response
    try {
      response = await requestJson(`${this.base}${path}`, {
        ...peer,
        method,
        body,
        timeoutMs: deadlineMs,
        deadlineMs,
        signal,
      })
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error
      if (cancel?.aborted) throw cancel.reason
      throw this.unreachable(error)
    } finally {
      unwatch()
    }
    this.peer.reached?.(this.hostId)
    if (response.status < 400) {
      if (!answer) return undefined as T
      const parsed = answer.safeParse(response.body)
      if (!parsed.success)
        throw new EngineError(
          `the agent of host ${this.hostId} answered ${method} ${path} with something else than the protocol says: ${describeIssues(parsed.error.issues)}`,
        )
      return parsed.data
    }
    if (response.status === 401)
      throw new DbrokerError(
        `the agent of host ${this.hostId} refused the broker's credential`,
        `if its token was rotated, restart the agent with the new one (\`dbroker hosts add ${this.hostId} --rotate\`)`,
      )
    throw errorFromAnswer(
      response.status,
      response.body,
      `the agent of host ${this.hostId} answered ${response.status}`,
    )
  }

  apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    return this.call('PUT', containerPath(spec.instanceId), containerState, spec, {
      deadlineMs: this.deadlines.applyMs,
      signal: options.signal,
    })
  }

  async remove(instanceId: string, options: {keepData?: boolean} = {}): Promise<void> {
    const query = options.keepData ? '?keepData=true' : ''
    await this.call('DELETE', containerPath(instanceId) + query, undefined, undefined, {
      deadlineMs: this.deadlines.actionMs,
    })
  }

  exec(
    instanceId: string,
    command: string[],
    env: Record<string, string>,
    options: ExecOptions = {},
  ): Promise<ExecResult> {
    return this.call(
      'POST',
      containerPath(instanceId, 'exec'),
      execResult,
      {command, env, ...options},
      {
        deadlineMs: this.deadlines.actionMs,
      },
    )
  }

  async restart(instanceId: string, options: RestartOptions = {}): Promise<void> {
    const body = options.after?.length ? {after: [...options.after]} : {}
    await this.call('POST', containerPath(instanceId, 'restart'), undefined, body, {
      deadlineMs: this.deadlines.actionMs,
    })
  }

  list(): Promise<ContainerState[]> {
    return this.call('GET', AGENT_API_ROUTES.containers, containerStates)
  }

  facts(): Promise<HostFacts> {
    return this.call('GET', AGENT_API_ROUTES.facts, hostFacts)
  }

  /** Whether the agent's process answers at all (its unauthenticated /healthz), within a short deadline. */
  async probe(deadlineMs = this.deadlines.probeMs): Promise<void> {
    const url = `${this.base.slice(0, -AGENT_API_PREFIX.length)}/healthz`
    let response
    try {
      response = await requestJson(url, {
        ca: this.peer.ca,
        token: '',
        fresh: true,
        connectTimeoutMs: Math.min(deadlineMs, this.deadlines.connectMs),
        deadlineMs,
        timeoutMs: deadlineMs,
      })
    } catch (error) {
      throw this.unreachable(error)
    }
    if (response.status >= 300) throw this.unreachable(new Error(`its health check answered ${response.status}`))
    this.peer.reached?.(this.hostId)
  }

  /** One container's state (an adopted one's by `adopted:<name>`), undefined when the host has none. */
  async inspect(instanceId: string): Promise<ContainerState | undefined> {
    return (await this.call('GET', containerPath(instanceId), inspectAnswer)).state ?? undefined
  }

  async stats(instanceId: string): Promise<ContainerStats | undefined> {
    return (await this.call('GET', containerPath(instanceId, 'stats'), statsAnswer)).stats ?? undefined
  }

  async logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    const query = new URLSearchParams()
    for (const key of ['tail', 'since', 'follow', 'timestamps'] as const)
      if (options[key] !== undefined) query.set(key, String(options[key]))
    const peer = await this.options()
    // A followed stream may be quiet for hours; one that is not followed ends soon, and silence means the agent went away.
    const idle = options.follow ? {} : {timeoutMs: this.deadlines.streamIdleMs}
    const {signal, cancel} = this.signals(options.signal)
    try {
      const stream = await requestStream(`${this.base}${containerPath(instanceId, 'logs')}?${query}`, {
        ...peer,
        ...idle,
        responseTimeoutMs: this.deadlines.streamStartMs,
        signal,
      })
      this.peer.reached?.(this.hostId)
      return stream
    } catch (error) {
      if (error instanceof PeerError) {
        this.peer.reached?.(this.hostId)
        throw errorFromAnswer(error.status, error.body, errorMessage(error))
      }
      if (options.signal?.aborted) throw options.signal.reason ?? error
      if (cancel?.aborted) throw cancel.reason
      throw this.unreachable(error)
    }
  }
}
