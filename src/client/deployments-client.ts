import type {DeleteDeploymentResult, DeployedContainerView, DeploymentView, DeployResult} from '../core/deployments.js'
import {adminRequest} from './admin-request.js'
import {type BrokerClient, BrokerRequestError} from './broker-client.js'

/** The admin API's manifest deploys (src/broker/admin/deployments.ts), over a broker client's connection and credentials. */
export class DeploymentsClient {
  constructor(private readonly broker: Pick<BrokerClient, 'fetch' | 'target'>) {}

  private json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return adminRequest(this.broker, method, path, {body})
  }

  /** Stores the manifest and waits until its hosts' agents made it so; `dryRun` answers the diff only. */
  deploy(
    name: string,
    manifest: {file: string; text: string},
    options: {dryRun?: boolean} = {},
  ): Promise<DeployResult> {
    const path = `/admin/v1/deployments/${encodeURIComponent(name)}${options.dryRun ? '/diff' : ''}`
    return this.json(options.dryRun ? 'POST' : 'PUT', path, {file: manifest.file, manifest: manifest.text})
  }

  list(): Promise<DeploymentView[]> {
    return this.json('GET', '/admin/v1/deployments')
  }

  get(name: string): Promise<DeploymentView> {
    return this.json('GET', `/admin/v1/deployments/${encodeURIComponent(name)}`)
  }

  remove(name: string): Promise<DeleteDeploymentResult> {
    return this.json('DELETE', `/admin/v1/deployments/${encodeURIComponent(name)}`)
  }

  containers(): Promise<DeployedContainerView[]> {
    return this.json('GET', '/admin/v1/deployed-containers')
  }
}

/** The deployed containers in the instance list's shape; none from a broker that predates deploys (404). */
export function deployedContainers(broker: Pick<BrokerClient, 'fetch' | 'target'>): Promise<DeployedContainerView[]> {
  return new DeploymentsClient(broker).containers().catch((error: unknown) => {
    if (error instanceof BrokerRequestError && error.status === 404) return []
    throw error
  })
}

/** The client whose instances() lists the deployed containers after the service instances: what `top` shows. */
export function withDeployedContainers<T extends Pick<BrokerClient, 'fetch' | 'target' | 'instances'>>(broker: T): T {
  const instances = async (options?: {stats?: boolean}) => {
    const [listed, deployed] = await Promise.all([broker.instances(options), deployedContainers(broker)])
    return [...listed, ...deployed]
  }
  // Every other method is the client's own, bound to it: only the list grows.
  return new Proxy(broker, {
    get(target, key) {
      if (key === 'instances') return instances
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
