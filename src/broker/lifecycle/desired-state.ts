import type {ContainerSpec} from '../../core/types.js'
import type {LifecycleContext} from './context.js'
import type {OperationRunner} from './operations.js'

/** What convergence may make: the instances that are ready and that no operation of this broker is changing. */
export class DesiredState {
  constructor(
    private readonly ctx: LifecycleContext,
    private readonly runner: OperationRunner,
  ) {}

  /** The containers a host should run: every instance there that is not mid-change. */
  async specs(hostId: string): Promise<ContainerSpec[]> {
    const instances = await this.ctx.store.listInstances({hostId})
    return instances.filter((i) => i.state === 'ready' && !this.runner.running(`i:${i.id}`)).map((i) => i.spec)
  }
}
