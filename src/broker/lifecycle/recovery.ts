import type {LifecycleContext} from './context.js'
import type {BindingUsers} from './binding-users.js'
import type {Bindings} from './bindings.js'
import type {InstanceChanges} from './instance-changes.js'
import type {Instances} from './instances.js'
import type {OperationRunner} from './operations.js'

/**
 * Takes over operations that `owners` (this broker after a restart, or brokers
 * whose lease ran out) left in progress: each one finishes or fails cleanly;
 * none stays in progress. Returns how many it took. Then, in the background,
 * drops the users those brokers' crashes may have left in services.
 */
export async function resumeOperations(
  ctx: LifecycleContext,
  parts: {
    runner: OperationRunner
    instances: Instances
    changes: InstanceChanges
    bindings: Bindings
    users: BindingUsers
  },
  owners: string[],
): Promise<number> {
  const {store, log, brokerId} = ctx
  const {runner, instances, changes, bindings} = parts
  void pruneStrayUsers(ctx, parts.users)
  const pending = (await store.operationsInProgress()).filter(
    (op) => op.owner !== null && owners.includes(op.owner) && !runner.holds(op.id),
  )
  let resumed = 0
  for (const op of pending) {
    // Another broker's operation becomes ours only if no third broker claimed it first.
    if (op.owner !== brokerId && !(await store.claimOperation(op.id, op.owner, brokerId, ctx.clock.now()))) continue
    resumed++
    const instance = await store.getInstance(op.instanceId)
    const host = instance && (await store.getHost(instance.hostId))
    log.info(`resuming ${op.kind} of ${op.bindingId ? `binding ${op.bindingId}` : `instance ${op.instanceId}`}`)
    if (!instance || !host) {
      runner.start(`i:${op.instanceId}`, op, async () => {
        throw new Error('interrupted by a broker restart; the instance is gone')
      })
      continue
    }
    const binding = op.bindingId ? await store.getBinding(op.bindingId) : undefined
    switch (op.kind) {
      case 'provision':
        runner.start(`i:${op.instanceId}`, op, (signal) => instances.runProvision(instance, host, signal))
        break
      case 'update':
        runner.start(`i:${op.instanceId}`, op, (signal) => changes.abandonUpdate(instance, host, op.createdAt, signal))
        break
      case 'deprovision':
        runner.start(`i:${op.instanceId}`, op, (signal) =>
          changes.runDeprovision(instance, host, 'ready', op.createdAt, signal),
        )
        break
      case 'bind':
        runner.start(`b:${op.bindingId}`, op, async (signal) => {
          if (!binding) throw new Error('interrupted by a broker restart; the binding is gone')
          return bindings.runBind(instance, binding, host, op.createdAt, signal)
        })
        break
      case 'unbind':
        runner.start(`b:${op.bindingId}`, op, async (signal) => {
          if (!binding) return {description: 'the binding is gone'}
          return bindings.runUnbind(instance, binding, host, op.createdAt, signal)
        })
        break
    }
  }
  return resumed
}

/** A crash between a bind or spare hook and its row leaves a user no binding holds: each ready instance drops its own, one at a time. */
async function pruneStrayUsers(ctx: LifecycleContext, users: BindingUsers): Promise<void> {
  const ready = await ctx.store.listInstances({state: 'ready'}).catch(() => [])
  for (const instance of ready) await users.prune(instance.id)
}
