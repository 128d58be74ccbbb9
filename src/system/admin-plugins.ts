import {adminRoutes, type AdminOptions, drainRoutes, hostEnrollmentRoutes} from '../broker/admin/index.js'
import type {BrokerAppOptions} from '../broker/app.js'

/**
 * The operator's API as both `dbroker up` and `dbroker broker start` mount it:
 * one list, so a route added here (drain, undrain, ...) exists in both.
 */
export function adminPlugins(options: AdminOptions): NonNullable<BrokerAppOptions['plugins']> {
  const scoped = {store: options.store, events: options.events, credentials: options.credentials, log: options.log}
  return [adminRoutes(options), drainRoutes(scoped), hostEnrollmentRoutes(scoped)]
}
