import type {AdminScope} from './scope.js'
import type {AdminOptions, AdminViews} from './views.js'

/** The hosts as the broker sees them: liveness, reachability, facts and how many instances each holds. */
export function hostRoutes(scope: AdminScope, options: AdminOptions, views: AdminViews): void {
  scope.get('/hosts', async () => {
    const [hosts, counts] = await Promise.all([options.store.listHosts(), options.store.countInstancesByHost()])
    const now = Date.now()
    return hosts.map((h) => views.hostView(h, counts.get(h.id) ?? 0, now))
  })
}
