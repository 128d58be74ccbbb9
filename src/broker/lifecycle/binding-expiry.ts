import {errorMessage, OsbError} from '../../core/errors.js'
import type {Logger} from '../../core/log.js'
import type {Store} from '../../store/index.js'
import {every, type Liveness} from '../liveness.js'
import type {Provisioner} from './index.js'

/** How often a broker looks for bindings whose ttl ran out. */
export const BINDING_EXPIRY_SWEEP_MS = 1000

/**
 * Unbinds each binding whose ttl ran out (its `expires_at` passed), through
 * the same unbind as a platform's DELETE, so its user is revoked in the
 * service. Several brokers may sweep one store: the unbind's compare-and-set
 * (bound -> unbinding) lets exactly one of them take each binding; the others
 * get a ConcurrencyError (or find it gone) and leave it. An unbind that fails
 * (host down) puts the binding back to bound, and a later sweep tries again.
 */
export function startBindingExpiry(options: {
  store: Store
  provisioner: Pick<Provisioner, 'unbind'>
  log: Logger
  everyMs?: number
  now?: () => number
}): Liveness {
  const {store, provisioner, log} = options
  const now = options.now ?? Date.now
  // One warning per binding that keeps failing, not one per sweep.
  const warned = new Set<string>()
  return every(
    options.everyMs ?? BINDING_EXPIRY_SWEEP_MS,
    async () => {
      for (const binding of await store.expiredBindings(now())) {
        try {
          await provisioner.unbind(
            binding.instanceId,
            binding.id,
            {service_id: binding.serviceId, plan_id: binding.planId},
            {acceptsIncomplete: true, originatingIdentity: 'dbroker binding-expiry', requestIdentity: null},
          )
          warned.delete(binding.id)
          log.info(`binding ${binding.id} of instance ${binding.instanceId} expired: unbinding it`)
        } catch (error) {
          const takenOrGone = error instanceof OsbError && (error.status === 410 || error.code === 'ConcurrencyError')
          if (takenOrGone || warned.has(binding.id)) continue
          warned.add(binding.id)
          log.warn(
            `cannot unbind the expired binding ${binding.id} yet (tried again each sweep): ${errorMessage(error)}`,
          )
        }
      }
    },
    log,
    'the binding expiry sweep',
  )
}
