import type {Binding, BindingState, InstanceState, Operation, OperationState} from '../../core/types.js'
import type {Store} from '../../store/index.js'
import type {ChangeInput} from '../events.js'
import type {LifecycleContext} from './context.js'

/**
 * One change of an instance's or a binding's state: what it writes and the
 * event that announces it. `write` answers false when the state it expects is
 * no longer there (another request changed it first); then nothing is written
 * and nothing announced.
 */
export interface Change {
  event: ChangeInput
  write(tx: Store): Promise<boolean>
  /** It deletes rows that held secrets: once committed, the store scrubs what its files still keep of them. */
  removes?: true
}

export type InstancePatch = Omit<Parameters<Store['updateInstance']>[1], 'state'>

type InstanceEvent = InstanceState | 'gone'
type BindingEvent = BindingState | 'gone'

const instanceEvent = (id: string, action: string, state: InstanceEvent): ChangeInput => ({
  kind: 'instance',
  id,
  action,
  state,
})
const bindingEvent = (
  binding: Pick<Binding, 'id' | 'instanceId'>,
  action: string,
  state: BindingEvent,
): ChangeInput => ({
  kind: 'binding',
  id: binding.id,
  instanceId: binding.instanceId,
  action,
  state,
})

export const changes = {
  /** A new instance row; `write` may do more in the same transaction (placement, ports). */
  instanceCreated(id: string, write: (tx: Store) => Promise<void>): Change {
    return {event: instanceEvent(id, 'provision', 'provisioning'), write: async (tx) => (await write(tx), true)}
  },
  instanceMoved(id: string, action: string, from: InstanceState[], to: InstanceState): Change {
    return {event: instanceEvent(id, action, to), write: (tx) => tx.transitionInstance(id, from, to)}
  },
  /** An update lands: the new plan, parameters and spec with the state back to ready. */
  instanceUpdated(id: string, patch: InstancePatch): Change {
    return {
      event: instanceEvent(id, 'update', 'ready'),
      write: async (tx) => {
        if (!(await tx.transitionInstance(id, ['updating'], 'ready'))) return false
        await tx.updateInstance(id, patch)
        return true
      },
    }
  },
  /** The instance's row, ports, bindings and spare users go; `state` is what the event says (a failed provision's cleanup says failed). */
  instanceRemoved(id: string, action: string, state: InstanceEvent = 'gone'): Change {
    return {
      event: instanceEvent(id, action, state),
      write: async (tx) => (await tx.deleteInstance(id), true),
      removes: true,
    }
  },
  bindingCreated(binding: Binding, requestKey: string): Change {
    return {
      event: bindingEvent(binding, 'bind', 'binding'),
      write: async (tx) => (await tx.insertBinding(binding, requestKey), true),
    }
  },
  bindingMoved(
    binding: Pick<Binding, 'id' | 'instanceId'>,
    action: string,
    from: BindingState[],
    to: BindingState,
  ): Change {
    return {event: bindingEvent(binding, action, to), write: (tx) => tx.transitionBinding(binding.id, from, to)}
  },
  bindingRemoved(binding: Pick<Binding, 'id' | 'instanceId'>, action: string, state: BindingEvent = 'gone'): Change {
    return {
      event: bindingEvent(binding, action, state),
      write: async (tx) => (await tx.deleteBinding(binding.id), true),
      removes: true,
    }
  },
}

/**
 * Begins an operation: the new state and the operation's record are written in
 * one transaction, then the change is announced. False (nothing written) when
 * the state had already moved on.
 */
export async function beginOperation(ctx: LifecycleContext, change: Change, op: Operation): Promise<boolean> {
  const written = await ctx.store.transaction(async (tx) => {
    if (!(await change.write(tx))) return false
    await tx.insertOperation(op, ctx.brokerId)
    return true
  })
  if (written) ctx.events.emitChange(change.event)
  return written
}

export type Ending = 'recorded' | 'taken over'

/**
 * Ends an operation: how it ended and the state it leaves (if any) are written
 * in one transaction, then both are announced. Only the broker that holds the
 * operation records it: one that lost it to another broker writes nothing.
 */
export async function finishOperation(
  ctx: LifecycleContext,
  op: Operation,
  outcome: {state: Exclude<OperationState, 'in progress'>; description: string},
  change?: Change,
): Promise<Ending> {
  const result = await ctx.store.transaction(async (tx) => {
    if (!(await tx.finishOperation(op.id, outcome.state, outcome.description, ctx.brokerId, ctx.clock.now())))
      return 'taken over' as const
    return change && (await change.write(tx)) ? ('changed' as const) : ('recorded' as const)
  })
  if (result === 'taken over') return result
  if (result === 'changed' && change!.removes) {
    await ctx.store
      .forgetDeleted()
      .catch((error: Error) => ctx.log.warn(`the store could not scrub deleted rows: ${error.message}`))
  }
  if (result === 'changed') ctx.events.emitChange(change!.event)
  ctx.events.emitChange({
    kind: 'operation',
    id: op.id,
    action: op.kind,
    instanceId: op.instanceId,
    state: outcome.state,
    description: outcome.description,
  })
  return 'recorded'
}
