import type {ContainerStats, LogOptions} from '../core/admin.js'
import type {AgentClient, ApplyOptions, ExecResult} from '../core/agent.js'
import {DbrokerError, EngineError, errorMessage, LogsUnavailableError} from '../core/errors.js'
import {type PeerOptions, requestJson, requestStream} from '../core/http.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../core/types.js'

/** How long an apply may take on the agent: image build plus the plan's readiness timeout. */
const APPLY_TIMEOUT_MS = 15 * 60_000

/** How the broker reaches one agent: the bearer that host's agent accepts (looked up per call), and a private CA. */
export interface AgentPeer extends Omit<PeerOptions, 'token'> {
  credential: () => Promise<string>
}

/**
 * `AgentClient` over the agent's HTTP API: what the broker uses for a remote
 * host. Errors keep their kind, so the broker tells an engine failure from an
 * unreachable agent.
 */
export class HttpAgentClient implements AgentClient {
  private readonly base: string

  constructor(
    readonly hostId: string,
    agentUrl: string,
    private readonly peer: AgentPeer,
  ) {
    this.base = agentUrl.replace(/\/+$/, '') + '/v1'
  }

  private async options(): Promise<PeerOptions> {
    return {ca: this.peer.ca, timeoutMs: this.peer.timeoutMs, token: await this.peer.credential()}
  }

  private async call<T>(method: string, path: string, body?: unknown, options: {timeoutMs?: number; signal?: AbortSignal} = {}): Promise<T> {
    const peer = await this.options()
    let response
    try {
      response = await requestJson(`${this.base}${path}`, {...peer, method, body, timeoutMs: options.timeoutMs ?? peer.timeoutMs, signal: options.signal})
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error
      throw new EngineError(`the agent of host ${this.hostId} is not reachable at ${this.base}: ${errorMessage(error)}`)
    }
    if (response.status < 400) return response.body as T
    const answer = (response.body ?? {}) as {error?: string; message?: string; hint?: string}
    const message = answer.message ?? `the agent of host ${this.hostId} answered ${response.status}`
    if (response.status === 401) throw new DbrokerError(`the agent of host ${this.hostId} refused the broker's credential`, `if its token was rotated, restart the agent with the new one (\`dbroker hosts add ${this.hostId} --rotate\`)`)
    if (answer.error === 'LogsUnavailableError') throw new LogsUnavailableError(message, answer.hint)
    if (answer.error === 'EngineError' || response.status === 502) throw new EngineError(message, answer.hint)
    throw new DbrokerError(message, answer.hint)
  }

  private path(instanceId: string, rest = ''): string {
    return `/containers/${encodeURIComponent(instanceId)}${rest}`
  }

  apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    return this.call('PUT', this.path(spec.instanceId), spec, {timeoutMs: APPLY_TIMEOUT_MS, signal: options.signal})
  }

  async remove(instanceId: string, options: {keepData?: boolean} = {}): Promise<void> {
    await this.call('DELETE', this.path(instanceId, options.keepData ? '?keepData=true' : ''), undefined, {timeoutMs: 120_000})
  }

  exec(instanceId: string, command: string[], env: Record<string, string>): Promise<ExecResult> {
    return this.call('POST', this.path(instanceId, '/exec'), {command, env}, {timeoutMs: 120_000})
  }

  async restart(instanceId: string): Promise<void> {
    await this.call('POST', this.path(instanceId, '/restart'), {}, {timeoutMs: 120_000})
  }

  list(): Promise<ContainerState[]> {
    return this.call('GET', '/containers')
  }

  facts(): Promise<HostFacts> {
    return this.call('GET', '/facts')
  }

  async stats(instanceId: string): Promise<ContainerStats | undefined> {
    return (await this.call<{stats: ContainerStats | null}>('GET', this.path(instanceId, '/stats'))).stats ?? undefined
  }

  async logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    const query = new URLSearchParams()
    for (const key of ['tail', 'since', 'follow', 'timestamps'] as const) if (options[key] !== undefined) query.set(key, String(options[key]))
    const peer = await this.options()
    try {
      return await requestStream(`${this.base}${this.path(instanceId, '/logs')}?${query}`, {...peer, signal: options.signal})
    } catch (error) {
      const status = (error as {status?: number}).status
      if (status === 501) throw new LogsUnavailableError(errorMessage(error))
      if (status !== undefined) throw new EngineError(errorMessage(error))
      throw new EngineError(`the agent of host ${this.hostId} is not reachable at ${this.base}: ${errorMessage(error)}`)
    }
  }
}
