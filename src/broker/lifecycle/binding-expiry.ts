import {errorMessage, OsbError} from '../../core/errors.js'
import type {Logger} from '../../core/log.js'
import type {Store} from '../../store/index.js'
import {every, type Liveness} from '../liveness.js'
import type {Provisioner} from './index.js'

/** How often a broker looks for bindings whose ttl ran out. */
export const BINDING_EXPIRY_SWEEP_MS = 1000
/** How long a broker's claim on an expired binding holds before another broker may try it again. */
export const BINDING_EXPIRY_RETRY_MS = 30_000

/**
 * Unbinds each binding whose ttl ran out (its `expires_at` passed), through
 * the same unbind as a platform's DELETE, so its user is revoked in the
 * service. Several brokers may sweep one store: each first claims the binding
 * by moving its expires_at on by `retryMs` (compare-and-set), so exactly one
 * unbinds it. An unbind that fails (host down), or a broker that dies with
 * the claim, leaves it bound: a sweep after `retryMs` tries again.
 */
export function startBindingExpiry(options: {
  store: Store
  provisioner: Pick<Provisioner, 'unbind'>
  log: Logger
  everyMs?: number
  retryMs?: number
  now?: () => number
}): Liveness {
  const {store, provisioner, log} = options
  const now = options.now ?? Date.now
  // One warning per binding that keeps failing, not one per sweep.
  const warned = new Set<string>()
  return every(
    options.everyMs ?? BINDING_EXPIRY_SWEEP_MS,
    async () => {
      const at = now()
      for (const binding of await store.expiredBindings(at)) {
        if (
          !(await store.claimExpiredBinding(
            binding.id,
            binding.expiresAt!,
            at + (options.retryMs ?? BINDING_EXPIRY_RETRY_MS),
          ))
        )
          continue
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
