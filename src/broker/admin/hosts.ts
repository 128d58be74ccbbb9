import {EVERY_HOST} from '../../core/registries.js'
import {hostRegistryView} from '../registries.js'
import type {AdminScope} from './scope.js'
import type {AdminOptions, AdminViews} from './views.js'

/** The hosts as the broker sees them: liveness, reachability, facts and how many instances each holds. */
export function hostRoutes(scope: AdminScope, options: AdminOptions, views: AdminViews): void {
  scope.get('/hosts', async () => {
    const [hosts, counts, registries] = await Promise.all([
      options.store.listHosts(),
      options.store.countInstancesByHost(),
      options.store.registries.hosts(),
    ])
    const now = Date.now()
    const desired = (id: string) =>
      registries.find((r) => r.hostId === id) ?? registries.find((r) => r.hostId === EVERY_HOST) ?? null
    return hosts.map((h) => ({
      ...views.hostView(h, counts.get(h.id) ?? 0, now),
      registry: hostRegistryView(desired(h.id), h.facts),
    }))
  })
}
