import type {CatalogChange, CatalogList, CatalogProblem} from '../core/catalog-admin.js'
import {adminRequest} from './admin-request.js'
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

  private json<T>(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    return adminRequest(this.broker, method, path, {body, query}, (status, answer) => {
      if (status === 400 && Array.isArray(answer.problems))
        return new InvalidServiceError(answer.description ?? 'invalid service', answer.problems as CatalogProblem[])
      if (status === 404 && answer.description?.startsWith('no route for'))
        return new BrokerRequestError(404, `the broker at ${this.broker.target.url} has no runtime catalog (too old)`)
      return undefined
    })
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
