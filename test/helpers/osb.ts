export interface OsbResponse<T = Record<string, any>> {
  status: number
  body: T
  headers: Headers
}

/** A minimal OSB client for tests: every request carries auth and a version unless told otherwise. */
export class OsbClient {
  constructor(
    readonly url: string,
    readonly credentials: {username: string; password: string},
    readonly version = '2.17',
  ) {}

  get authorization(): string {
    return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`
  }

  async request<T = Record<string, any>>(
    method: string,
    path: string,
    options: {
      body?: unknown
      rawBody?: string
      headers?: Record<string, string | undefined>
      query?: Record<string, string | boolean | undefined>
    } = {},
  ): Promise<OsbResponse<T>> {
    const url = new URL(path, this.url)
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const headers: Record<string, string> = {authorization: this.authorization, 'x-broker-api-version': this.version}
    if (options.body !== undefined || options.rawBody !== undefined) headers['content-type'] = 'application/json'
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      if (v === undefined) delete headers[k.toLowerCase()]
      else headers[k.toLowerCase()] = v
    }
    const response = await fetch(url, {
      method,
      headers,
      body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    })
    const text = await response.text()
    return {status: response.status, body: (text ? JSON.parse(text) : {}) as T, headers: response.headers}
  }

  provision(id: string, body: Record<string, unknown>, acceptsIncomplete?: boolean) {
    return this.request('PUT', `/v2/service_instances/${id}`, {body, query: {accepts_incomplete: acceptsIncomplete}})
  }

  update(id: string, body: Record<string, unknown>, acceptsIncomplete?: boolean) {
    return this.request('PATCH', `/v2/service_instances/${id}`, {body, query: {accepts_incomplete: acceptsIncomplete}})
  }

  deprovision(id: string, ids: {service_id?: string; plan_id?: string}, acceptsIncomplete?: boolean) {
    return this.request('DELETE', `/v2/service_instances/${id}`, {
      query: {...ids, accepts_incomplete: acceptsIncomplete},
    })
  }

  bind(id: string, bindingId: string, body: Record<string, unknown>, acceptsIncomplete?: boolean) {
    return this.request('PUT', `/v2/service_instances/${id}/service_bindings/${bindingId}`, {
      body,
      query: {accepts_incomplete: acceptsIncomplete},
    })
  }

  unbind(id: string, bindingId: string, ids: {service_id?: string; plan_id?: string}, acceptsIncomplete?: boolean) {
    return this.request('DELETE', `/v2/service_instances/${id}/service_bindings/${bindingId}`, {
      query: {...ids, accepts_incomplete: acceptsIncomplete},
    })
  }

  lastOperation(id: string, query: Record<string, string | undefined> = {}, bindingId?: string) {
    const path = bindingId
      ? `/v2/service_instances/${id}/service_bindings/${bindingId}/last_operation`
      : `/v2/service_instances/${id}/last_operation`
    return this.request('GET', path, {query})
  }

  /** Polls last_operation until it leaves "in progress". */
  async waitFor(id: string, operation?: string, bindingId?: string, timeoutMs = 120_000): Promise<OsbResponse> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const response = await this.lastOperation(id, {operation}, bindingId)
      if (response.status !== 200 || response.body.state !== 'in progress') return response
      if (Date.now() > deadline)
        throw new Error(`operation ${operation} on ${id} still in progress after ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}
