import type {ContainerSpec} from '../../core/types.js'
import {startOrder} from '../../manifest/plan.js'
import type {DeploymentContainerState} from '../../store/repositories/deployments.js'
import type {LifecycleContext} from './context.js'
import type {OperationRunner} from './operations.js'
import {kindOf} from './plan-kinds.js'
import type {SharedContainers} from './shared-containers.js'

/** A deployment's containers convergence may make: pushed once (ready), or whose push failed; pending ones the deploy is making in order. */
const CONVERGED: DeploymentContainerState[] = ['ready', 'failed']

/** What convergence may make: the instances that are ready and that no operation of this broker is changing, the shared containers, and the deployed containers. */
export class DesiredState {
  constructor(
    private readonly ctx: LifecycleContext,
    private readonly runner: OperationRunner,
    private readonly shared: SharedContainers,
  ) {}

  /** The containers a host should run: every instance there that is not mid-change, then the deployed ones, each after what it depends on. */
  async specs(hostId: string): Promise<ContainerSpec[]> {
    const [instances, shared, deployed] = await Promise.all([
      this.ctx.store.listInstances({hostId}),
      this.shared.desired(hostId),
      this.ctx.store.deployments.containers({hostId, states: CONVERGED}),
    ])
    const specs = new Map(deployed.map((c) => [c.instanceId, c.spec]))
    const ordered = startOrder([...specs.values()].map((s) => ({name: s.instanceId, dependsOn: s.dependsOn ?? []})))
    return [
      ...instances
        .filter((i) => i.state === 'ready' && !this.runner.running(`i:${i.id}`))
        .filter((i) => kindOf(this.ctx.catalog, i).type === 'dedicated')
        .map((i) => i.spec),
      // A shared plan's instances live in these; static and existing ones in no container of dbroker's.
      ...shared,
      ...ordered.map((id) => specs.get(id)!),
    ]
  }
}
