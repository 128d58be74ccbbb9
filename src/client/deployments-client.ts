import type {
  DeleteDeploymentResult,
  DeployedContainerDetail,
  DeployedContainerView,
  DeploymentView,
  DeployResult,
} from '../core/deployments.js'
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

  /** One deployed container in detail, by its id (`deploy:<deployment>:<host>:<container>`). */
  container(id: string): Promise<DeployedContainerDetail> {
    return this.json('GET', `/admin/v1/deployed-containers/${encodeURIComponent(id)}`)
  }
}

/** The deployed containers in the instance list's shape; none from a broker that predates deploys (404). */
export function deployedContainers(broker: Pick<BrokerClient, 'fetch' | 'target'>): Promise<DeployedContainerView[]> {
  return new DeploymentsClient(broker).containers().catch((error: unknown) => {
    if (error instanceof BrokerRequestError && error.status === 404) return []
    throw error
  })
}

/** What `top` reads of one deployed container beside the broker client's own calls. */
export interface DeployedContainerSource {
  deployedContainer(id: string): Promise<DeployedContainerDetail>
}

/**
 * The client whose instances() lists the deployed containers after the service instances, and whose
 * deployedContainer() shows one in detail: what `top` shows.
 */
export function withDeployedContainers<T extends Pick<BrokerClient, 'fetch' | 'target' | 'instances'>>(
  broker: T,
): T & DeployedContainerSource {
  const instances = async (options?: {stats?: boolean}) => {
    const [listed, deployed] = await Promise.all([broker.instances(options), deployedContainers(broker)])
    return [...listed, ...deployed]
  }
  const deployedContainer = (id: string) =>
    new DeploymentsClient(broker).container(id).catch((error: unknown) => {
      // A broker from before the route answers its router's 404: say what is missing, not "no route for GET ...".
      if (error instanceof BrokerRequestError && error.status === 404 && error.message.startsWith('no route'))
        throw new BrokerRequestError(
          404,
          `the broker at ${broker.target.url} predates GET /admin/v1/deployed-containers/:id, so it can't show ${id} in detail; \`dbroker show ${id}\` can`,
        )
      throw error
    })
  // Every other method is the client's own, bound to it: only the list grows, and one call is added.
  return new Proxy(broker as T & DeployedContainerSource, {
    get(target, key) {
      if (key === 'instances') return instances
      if (key === 'deployedContainer') return deployedContainer
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
