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
  /** How the context's `dbroker up` was started, for the hint when it is not running. */
  startCommand?: string
  /** Where the context's `dbroker up --detach` logs, for a failure that points at the broker's log. */
  logFile?: string
}

/** The broker answered with an error status; the message is its description, never a secret. */
export class BrokerRequestError extends DbrokerError {
  override readonly name = 'BrokerRequestError'
  constructor(
    readonly status: number,
    message: string,
    hint?: string,
    /** The OSB error code the broker sent (ConcurrencyError, AsyncRequired, ...). */
    readonly code?: string,
  ) {
    super(message, hint)
  }
}

export interface RequestOptions {
  admin?: boolean
  body?: unknown
  query?: Record<string, string | number | boolean | undefined>
  signal?: AbortSignal
  /** false: no deadline (a followed stream). */
  timeout?: boolean
}

const OSB_VERSION = '2.17'

const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

/**
 * The broker's HTTP transport over fetch: its URL, the realm's basic auth and
 * the OSB version header. Errors are `DbrokerError`s with the broker's
 * description and a hint; none carries a secret.
 */
export class BrokerHttp {
  constructor(
    readonly target: BrokerTarget,
    private readonly options: {timeoutMs?: number} = {},
  ) {}

  protected get where(): string {
    return this.target.context ? `context ${this.target.context} (${this.target.url})` : this.target.url
  }

  private authorization(admin: boolean): string {
    const {username, password, adminUsername, adminPassword} = this.target
    if (admin) {
      if (!adminUsername || !adminPassword) {
        throw new DbrokerError(
          `${this.where} has no admin credentials`,
          'add them with `dbroker context add NAME --url URL --admin-username U --password-stdin`, or set DBROKER_ADMIN_USERNAME and DBROKER_ADMIN_PASSWORD',
        )
      }
      return basic(adminUsername, adminPassword)
    }
    if (!username || !password) {
      throw new DbrokerError(
        `${this.where} has no broker credentials`,
        'set them with `dbroker context add NAME --url URL --username U --password-stdin`, or DBROKER_USERNAME and DBROKER_PASSWORD',
      )
    }
    return basic(username, password)
  }

  /** Sends one request; answers the response for any status, fails only when the broker can't be reached. */
  async fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
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
        this.target.startCommand
          ? `start it again with \`${this.target.startCommand}\``
          : this.target.context === 'local' || !this.target.context
            ? 'start one with `dbroker up --detach`'
            : 'check the URL with `dbroker context list`, or pick another with --context',
      )
    }
  }

  protected async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
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

  protected failure(status: number, body: {description?: string; error?: string}, admin: boolean): BrokerRequestError {
    const description = body?.description ?? `HTTP ${status}`
    if (status === 401) {
      return new BrokerRequestError(
        status,
        `the broker at ${this.target.url} refused the ${admin ? 'admin ' : ''}credentials of ${this.target.context ? `context ${this.target.context}` : 'the environment'}`,
        'check them with `dbroker context list`; `dbroker up` prints the local ones',
      )
    }
    return new BrokerRequestError(status, description, undefined, body?.error)
  }
}
