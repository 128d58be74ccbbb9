import {deploymentRoutes} from '../broker/admin/deployments.js'
import {diskRoutes} from '../broker/admin/disks.js'
import {adminRoutes, type AdminOptions, drainRoutes, hostEnrollmentRoutes} from '../broker/admin/index.js'
import type {BrokerAppOptions} from '../broker/app.js'
import {catalogRoutes} from '../broker/admin/catalog.js'
import {recentEventRoutes} from '../broker/admin/recent-events.js'
import {registryRoutes} from '../broker/admin/registries.js'

/**
 * The operator's API as both `dbroker up` and `dbroker broker start` mount it:
 * one list, so a route added here (drain, undrain, ...) exists in both.
 */
export function adminPlugins(options: AdminOptions): NonNullable<BrokerAppOptions['plugins']> {
  const scoped = {store: options.store, events: options.events, credentials: options.credentials, log: options.log}
  const {agentFor, keepaliveMs} = options
  return [
    adminRoutes(options),
    drainRoutes(scoped),
    hostEnrollmentRoutes(scoped),
    diskRoutes({...scoped, provisioner: options.provisioner}),
    deploymentRoutes({...scoped, agentFor, keepaliveMs}),
    recentEventRoutes(scoped),
    registryRoutes(scoped),
    ...(options.storedCatalog ? [catalogRoutes({...scoped, catalog: options.storedCatalog})] : []),
  ]
}
