import {eventRoutes} from './events.js'
import {hostRoutes} from './hosts.js'
import {instanceRoutes} from './instances.js'
import {logRoutes} from './logs.js'
import {adminScope} from './scope.js'
import {adminViews, type AdminOptions} from './views.js'

export {drainRoutes} from './drain.js'
export {hostEnrollmentRoutes, type HostEnrollmentOptions} from './enrollment.js'
export {parseSince} from './logs.js'
export {ADMIN_PREFIX, adminScope, type AdminScope} from './scope.js'
export type {AdminOptions} from './views.js'

/**
 * The operator's API: hosts, instances with their containers' state and
 * stats, logs, restart and deprovision, and a server-sent event stream of
 * changes. Its own basic auth; secrets only when asked for.
 */
export function adminRoutes(options: AdminOptions) {
  const views = adminViews(options)
  return adminScope(options.credentials, (scope) => {
    hostRoutes(scope, options, views)
    instanceRoutes(scope, options, views)
    logRoutes(scope, options, views)
    eventRoutes(scope, options, views)
  })
}
