import type {ChangeEvent, DiskResizeResult, HostView, InstanceDetail, InstanceView, LogOptions} from '../core/admin.js'
import {DbrokerError} from '../core/errors.js'

/** Where a broker is and how to talk to it: one context, or the environment. */
export interface BrokerTarget {
  url: string
  username?: string
  password?: string
  adminUsername?: string
  adminPassword?: string
  /** The context it came from, for messages. */
  context?: string
}

export interface CatalogPlan {
  id: string
  name: string
  description: string
  free?: boolean
  bindable?: boolean
}

export interface CatalogService {
  id: string
  name: string
  description: string
  bindable: boolean
  tags?: string[]
  plans: CatalogPlan[]
}

export interface OsbReply {
  status: number
  body: Record<string, any>
}

export interface LastOperation {
  state: 'in progress' | 'succeeded' | 'failed'
  description?: string
}

/** The broker answered with an error status; the message is its description, never a secret. */
export class BrokerRequestError extends DbrokerError {
  override readonly name = 'BrokerRequestError'
  constructor(
    readonly status: number,
    message: string,
    hint?: string,
  ) {
    super(message, hint)
  }
}

const OSB_VERSION = '2.17'

const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

/**
 * A typed client for a broker's OSB API and admin API over fetch. Errors are
 * `DbrokerError`s with the broker's description and a hint; none carries a secret.
 */
export class BrokerClient {
  constructor(
    readonly target: BrokerTarget,
    private readonly options: {timeoutMs?: number} = {},
  ) {}

  private get where(): string {
    return this.target.context ? `context ${this.target.context} (${this.target.url})` : this.target.url
  }

  private authorization(admin: boolean): string {
    const {username, password, adminUsername, adminPassword} = this.target
    if (admin) {
      if (!adminUsername || !adminPassword) {
        throw new DbrokerError(
          `${this.where} has no admin credentials`,
          'add them with `dbroker context add NAME --url URL --admin-username U --admin-password P`, or set DBROKER_ADMIN_USERNAME and DBROKER_ADMIN_PASSWORD',
        )
      }
      return basic(adminUsername, adminPassword)
    }
    if (!username || !password) {
      throw new DbrokerError(
        `${this.where} has no broker credentials`,
        'set them with `dbroker context add NAME --url URL --username U --password P`, or DBROKER_USERNAME and DBROKER_PASSWORD',
      )
    }
    return basic(username, password)
  }

  /** Sends one request; answers the response for any status, fails only when the broker can't be reached. */
  async fetch(
    method: string,
    path: string,
    options: {
      admin?: boolean
      body?: unknown
      query?: Record<string, string | number | boolean | undefined>
      signal?: AbortSignal
      timeout?: boolean
    } = {},
  ): Promise<Response> {
    const url = new URL(
      path.replace(/^\//, ''),
      this.target.url.endsWith('/') ? this.target.url : `${this.target.url}/`,
    )
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const headers: Record<string, string> = {
      authorization: this.authorization(options.admin ?? false),
      'x-broker-api-version': OSB_VERSION,
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const signals = [
      options.signal,
      options.timeout === false ? undefined : AbortSignal.timeout(this.options.timeoutMs ?? 300_000),
    ].filter((s) => s !== undefined)
    try {
      return await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      })
    } catch (error) {
      if (options.signal?.aborted) throw error
      const cause = (error as {cause?: {code?: string; message?: string}}).cause
      throw new DbrokerError(
        `cannot reach the broker at ${this.target.url} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
        this.target.context === 'local' || !this.target.context
          ? 'start one with `dbroker up --detach`'
          : 'check the URL with `dbroker context list`, or pick another with --context',
      )
    }
  }

  private async json<T>(method: string, path: string, options: Parameters<BrokerClient['fetch']>[2] = {}): Promise<T> {
    const response = await this.fetch(method, path, options)
    const text = await response.text()
    let body: any
    try {
      body = text ? JSON.parse(text) : {}
    } catch {
      body = {description: text.slice(0, 200)}
    }
    if (!response.ok) throw this.failure(response.status, body, options.admin ?? false)
    return body as T
  }

  private failure(status: number, body: {description?: string; error?: string}, admin: boolean): BrokerRequestError {
    const description = body?.description ?? `HTTP ${status}`
    if (status === 401) {
      return new BrokerRequestError(
        status,
        `the broker at ${this.target.url} refused the ${admin ? 'admin ' : ''}credentials of ${this.target.context ? `context ${this.target.context}` : 'the environment'}`,
        'check them with `dbroker context list`; `dbroker up` prints the local ones',
      )
    }
    return new BrokerRequestError(status, description)
  }

  /** An OSB call whose status the caller interprets (201 vs 200 vs 202). */
  private async osb(
    method: string,
    path: string,
    options: Parameters<BrokerClient['fetch']>[2] = {},
  ): Promise<OsbReply> {
    const response = await this.fetch(method, path, options)
    const text = await response.text()
    const body = text ? (JSON.parse(text) as Record<string, any>) : {}
    if (response.status >= 400 && !(response.status === 410 && method === 'DELETE'))
      throw this.failure(response.status, body, false)
    return {status: response.status, body}
  }

  // OSB

  async catalog(): Promise<CatalogService[]> {
    return (await this.json<{services: CatalogService[]}>('GET', '/v2/catalog')).services
  }

  provision(instanceId: string, body: Record<string, unknown>, acceptsIncomplete = false): Promise<OsbReply> {
    return this.osb('PUT', `/v2/service_instances/${encodeURIComponent(instanceId)}`, {
      body,
      query: {accepts_incomplete: acceptsIncomplete || undefined},
    })
  }

  deprovision(
    instanceId: string,
    ids: {serviceId: string; planId: string},
    acceptsIncomplete = false,
  ): Promise<OsbReply> {
    return this.osb('DELETE', `/v2/service_instances/${encodeURIComponent(instanceId)}`, {
      query: {service_id: ids.serviceId, plan_id: ids.planId, accepts_incomplete: acceptsIncomplete || undefined},
    })
  }

  bind(instanceId: string, bindingId: string, body: Record<string, unknown>): Promise<OsbReply> {
    return this.osb(
      'PUT',
      `/v2/service_instances/${encodeURIComponent(instanceId)}/service_bindings/${encodeURIComponent(bindingId)}`,
      {body},
    )
  }

  unbind(instanceId: string, bindingId: string, ids: {serviceId: string; planId: string}): Promise<OsbReply> {
    return this.osb(
      'DELETE',
      `/v2/service_instances/${encodeURIComponent(instanceId)}/service_bindings/${encodeURIComponent(bindingId)}`,
      {
        query: {service_id: ids.serviceId, plan_id: ids.planId},
      },
    )
  }

  lastOperation(instanceId: string, operation?: string): Promise<LastOperation> {
    return this.json('GET', `/v2/service_instances/${encodeURIComponent(instanceId)}/last_operation`, {
      query: {operation},
    })
  }

  // admin

  hosts(): Promise<HostView[]> {
    return this.json('GET', '/admin/v1/hosts', {admin: true})
  }

  instances(options: {stats?: boolean} = {}): Promise<InstanceView[]> {
    return this.json('GET', '/admin/v1/instances', {
      admin: true,
      query: {stats: options.stats === false ? 'false' : undefined},
    })
  }

  instance(ref: string, options: {credentials?: boolean} = {}): Promise<InstanceDetail> {
    return this.json('GET', `/admin/v1/instances/${encodeURIComponent(ref)}`, {
      admin: true,
      query: {credentials: options.credentials || undefined},
    })
  }

  /** The instance with this id or name, or undefined when there is none. */
  async findInstance(ref: string): Promise<InstanceDetail | undefined> {
    try {
      return await this.instance(ref)
    } catch (error) {
      if (error instanceof BrokerRequestError && error.status === 404) return undefined
      throw error
    }
  }

  restart(ref: string): Promise<{id: string}> {
    return this.json('POST', `/admin/v1/instances/${encodeURIComponent(ref)}/restart`, {admin: true})
  }

  /** Resizes the instance's disk and resolves once the service runs on the new one; it can take a while. */
  resizeDisk(ref: string, size: string): Promise<DiskResizeResult> {
    return this.json('POST', `/admin/v1/instances/${encodeURIComponent(ref)}/disk`, {
      admin: true,
      body: {size},
      timeout: false,
    })
  }

  remove(ref: string): Promise<{id: string}> {
    return this.json('DELETE', `/admin/v1/instances/${encodeURIComponent(ref)}`, {admin: true})
  }

  /** The instance's container output as text chunks; follows until the signal aborts when asked to. */
  async *logs(
    ref: string,
    options: Omit<LogOptions, 'since'> & {since?: string; onOpen?: () => void} = {},
  ): AsyncIterable<string> {
    const response = await this.fetch('GET', `/admin/v1/instances/${encodeURIComponent(ref)}/logs`, {
      admin: true,
      signal: options.signal,
      timeout: !options.follow,
      query: {
        tail: options.tail,
        since: options.since,
        follow: options.follow || undefined,
        timestamps: options.timestamps || undefined,
      },
    })
    if (!response.ok)
      throw this.failure(response.status, (await response.json().catch(() => ({}))) as {description?: string}, true)
    options.onOpen?.()
    const decoder = new TextDecoder()
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
        yield decoder.decode(chunk, {stream: true})
    } catch (error) {
      if (!options.signal?.aborted)
        throw new DbrokerError(`the log stream from ${this.target.url} broke (${(error as Error).message})`)
    }
  }

  /** The broker's change events, as they happen, until the signal aborts. */
  async *events(signal?: AbortSignal, onOpen?: () => void): AsyncIterable<ChangeEvent> {
    const response = await this.fetch('GET', '/admin/v1/events', {admin: true, signal, timeout: false})
    if (!response.ok)
      throw this.failure(response.status, (await response.json().catch(() => ({}))) as {description?: string}, true)
    onOpen?.()
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, {stream: true})
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = frame
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n')
          if (data) yield JSON.parse(data) as ChangeEvent
        }
      }
    } catch (error) {
      if (!signal?.aborted) throw error
    }
  }
}
