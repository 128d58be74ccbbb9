import type {CatalogChange, CatalogList, CatalogProblem} from '../core/catalog-admin.js'
import {type BrokerClient, BrokerRequestError} from './broker-client.js'

/** A 400 of the catalog routes: what is wrong with the service sent, by its path in the body. */
export class InvalidServiceError extends BrokerRequestError {
  constructor(
    message: string,
    readonly problems: CatalogProblem[],
  ) {
    super(400, message)
  }
}

/** The admin API's stored catalog (src/broker/admin/catalog.ts), over a broker client's connection and credentials. */
export class CatalogServicesClient {
  constructor(private readonly broker: Pick<BrokerClient, 'fetch' | 'target'>) {}

  private async json<T>(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    const response = await this.broker.fetch(method, path, {admin: true, body, query})
    const text = await response.text()
    let parsed: {description?: string; problems?: CatalogProblem[]}
    try {
      parsed = text ? JSON.parse(text) : {}
    } catch {
      parsed = {description: text.slice(0, 200)}
    }
    if (response.status === 401)
      throw new BrokerRequestError(
        401,
        `the broker at ${this.broker.target.url} refused the admin credentials`,
        'check them with `dbroker context list`; `dbroker up` prints the local ones',
      )
    if (response.status === 400 && Array.isArray(parsed.problems))
      throw new InvalidServiceError(parsed.description ?? 'invalid service', parsed.problems)
    if (response.status === 404 && parsed.description?.startsWith('no route for'))
      throw new BrokerRequestError(404, `the broker at ${this.broker.target.url} has no runtime catalog (too old)`)
    if (!response.ok) throw new BrokerRequestError(response.status, parsed.description ?? `HTTP ${response.status}`)
    return parsed as T
  }

  list(): Promise<CatalogList> {
    return this.json('GET', '/admin/v1/catalog/services')
  }

  add(service: unknown): Promise<CatalogChange> {
    return this.json('POST', '/admin/v1/catalog/services', {service})
  }

  /** Replaces the service named `ref` at `version`; a 409 when it changed since. */
  update(ref: string, version: number, service: unknown): Promise<CatalogChange> {
    return this.json('PUT', `/admin/v1/catalog/services/${encodeURIComponent(ref)}`, {version, service})
  }

  remove(ref: string, version?: number): Promise<CatalogChange> {
    return this.json(
      'DELETE',
      `/admin/v1/catalog/services/${encodeURIComponent(ref)}`,
      undefined,
      version === undefined ? undefined : {version: String(version)},
    )
  }
}
