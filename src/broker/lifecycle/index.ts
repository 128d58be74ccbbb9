import type {ContainerSpec} from '../../core/types.js'
import type {BindBody, DeleteQuery, ProvisionBody, Reply, RequestMeta, UpdateBody} from '../osb-schema.js'
import {BindingUsers} from './binding-users.js'
import {Bindings} from './bindings.js'
import {type LifecycleContext, lifecycleContext, type LifecycleOptions} from './context.js'
import {DesiredState} from './desired-state.js'
import {HostWait} from './host-wait.js'
import {InstanceChanges} from './instance-changes.js'
import {Instances} from './instances.js'
import {KindLifecycle} from './kind-lifecycle.js'
import {isSharedContainerId} from './shared-containers.js'
import {OperationRunner} from './operations.js'
import {resumeOperations} from './recovery.js'

export {canonical, type Clock, type LifecycleOptions, systemClock} from './context.js'
export type {Reply, RequestMeta} from '../osb-schema.js'

/**
 * The lifecycle of instances and bindings, as the routes and composition
 * roots see it. Each change is an operation in the store; work runs in the
 * background for async requests and is awaited for sync ones. Every step is
 * idempotent, so a broker that restarts resumes it.
 */
export class Provisioner {
  private readonly ctx: LifecycleContext
  private readonly runner: OperationRunner
  private readonly users: BindingUsers
  private readonly instances: Instances
  private readonly changes: InstanceChanges
  private readonly bindings: Bindings
  private readonly desired: DesiredState
  private readonly kinds: KindLifecycle

  constructor(options: LifecycleOptions) {
    this.ctx = lifecycleContext(options)
    this.runner = new OperationRunner(this.ctx)
    const hosts = new HostWait(this.ctx)
    this.kinds = new KindLifecycle(this.ctx, hosts)
    this.users = new BindingUsers(this.ctx, hosts)
    this.instances = new Instances(this.ctx, this.runner, hosts, this.users, this.kinds)
    this.changes = new InstanceChanges(this.ctx, this.runner, hosts, this.users, this.kinds)
    this.bindings = new Bindings(this.ctx, this.runner, hosts, this.users)
    this.desired = new DesiredState(this.ctx, this.runner, this.kinds.shared)
  }

  provision(instanceId: string, body: ProvisionBody, meta: RequestMeta): Promise<Reply> {
    return this.instances.provision(instanceId, body, meta)
  }

  fetchInstance(instanceId: string): Promise<Reply> {
    return this.instances.fetch(instanceId)
  }

  update(instanceId: string, body: UpdateBody, meta: RequestMeta): Promise<Reply> {
    return this.changes.update(instanceId, body, meta)
  }

  deprovision(instanceId: string, query: DeleteQuery, meta: RequestMeta): Promise<Reply> {
    return this.changes.deprovision(instanceId, query, meta)
  }

  bind(instanceId: string, bindingId: string, body: BindBody, meta: RequestMeta): Promise<Reply> {
    return this.bindings.bind(instanceId, bindingId, body, meta)
  }

  fetchBinding(instanceId: string, bindingId: string): Promise<Reply> {
    return this.bindings.fetch(instanceId, bindingId)
  }

  unbind(instanceId: string, bindingId: string, query: DeleteQuery, meta: RequestMeta): Promise<Reply> {
    return this.bindings.unbind(instanceId, bindingId, query, meta)
  }

  lastOperation(instanceId: string, bindingId: string | undefined, operationId: string | undefined): Promise<Reply> {
    return this.runner.lastOperation(instanceId, bindingId, operationId)
  }

  /** Takes over operations this broker (or the given brokers) left in progress. */
  resume(owners: string[] = [this.ctx.brokerId]): Promise<number> {
    return resumeOperations(
      this.ctx,
      {
        runner: this.runner,
        instances: this.instances,
        changes: this.changes,
        bindings: this.bindings,
        users: this.users,
      },
      owners,
    )
  }

  /** Re-makes the per-binding users of an instance whose container convergence re-made. */
  replayBindings(instanceId: string, hostId?: string): Promise<number> {
    // A shared container holds many instances: each gets its database back, then its users.
    if (isSharedContainerId(instanceId))
      return this.kinds.replayShared(instanceId, hostId, (id) => this.users.replay(id, hostId))
    return this.users.replay(instanceId, hostId)
  }

  /** Stops every operation running here without cleanup or outcome: this broker lost its lease. */
  abandon(reason: string): Promise<number> {
    return this.runner.abandon(reason)
  }

  /** Resolves when every running operation and spare-user fill has ended (or after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void> {
    return this.runner.drain(timeoutMs, this.users.pending())
  }

  desiredSpecs(hostId: string): Promise<ContainerSpec[]> {
    return this.desired.specs(hostId)
  }
}
