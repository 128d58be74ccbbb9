import type {ChangeEvent, DiskResizeResult, HostView, InstanceDetail, InstanceView, LogOptions} from '../core/admin.js'
import {DbrokerError} from '../core/errors.js'
import {EVERY_HOST, type RegistryLogin, type RegistrySettings} from '../core/registries.js'
import {BrokerRequestError} from './broker-http.js'
import {OsbClient} from './osb-client.js'

export {BrokerHttp, BrokerRequestError, type BrokerTarget, type RequestOptions} from './broker-http.js'
export type {CatalogPlan, CatalogService, LastOperation, OsbReply} from './osb-client.js'

/** A broker's OSB API (osb-client.ts) and its admin API, with the operator's credentials. */
export class BrokerClient extends OsbClient {
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

  /** `force`: also a shared or adopted container, which every instance in it feels (the broker refuses it otherwise). */
  restart(ref: string, options: {force?: boolean} = {}): Promise<{id: string}> {
    const query = options.force ? '?force=true' : ''
    return this.json('POST', `/admin/v1/instances/${encodeURIComponent(ref)}/restart${query}`, {admin: true})
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

  /** Sets the registry mirrors and insecure registries one host (or, with `*`, every host) should have. */
  setHostRegistry(host: string, settings: RegistrySettings): Promise<RegistrySettings & {host: string}> {
    const path =
      host === EVERY_HOST ? '/admin/v1/hosts/registry' : `/admin/v1/hosts/${encodeURIComponent(host)}/registry`
    return this.json('PUT', path, {admin: true, body: settings})
  }

  registryLogins(): Promise<RegistryLogin[]> {
    return this.json('GET', '/admin/v1/registries', {admin: true})
  }

  /** Stores a private registry's login in the broker (its password sealed there, never answered). */
  registryLogin(
    registry: string,
    login: {username: string; password: string},
  ): Promise<{registry: string; username: string}> {
    return this.json('PUT', `/admin/v1/registries/${encodeURIComponent(registry)}`, {admin: true, body: login})
  }

  registryLogout(registry: string): Promise<{registry: string; removed: boolean}> {
    return this.json('DELETE', `/admin/v1/registries/${encodeURIComponent(registry)}`, {admin: true})
  }

  /** The last changes the broker saw since it started, oldest first. */
  recentEvents(limit?: number): Promise<ChangeEvent[]> {
    return this.json('GET', '/admin/v1/events/recent', {admin: true, query: {limit}})
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
