import type {CatalogPlan, CatalogService} from '../../client/broker-client.js'
import {UsageError} from '../../core/errors.js'

export function findService(services: CatalogService[], ref: string): CatalogService | undefined {
  return services.find((s) => s.name === ref || s.id === ref)
}

const names = (items: Array<{name: string}>) => items.map((i) => i.name).join(', ')

/** The service named or id'd by `ref`, or a usage error listing the catalog's services. */
export function serviceByRef(services: CatalogService[], ref: string): CatalogService {
  const service = findService(services, ref)
  if (!service) throw new UsageError(`the catalog has no service ${ref}`, `pick one of: ${names(services)}`)
  return service
}

/** The plan named or id'd by `ref` (default: the service's first), or a usage error listing its plans. */
export function planByRef(service: CatalogService, ref?: string): CatalogPlan {
  const plan = ref ? service.plans.find((p) => p.name === ref || p.id === ref) : service.plans[0]
  if (!plan) throw new UsageError(`service ${service.name} has no plan ${ref}`, `pick one of: ${names(service.plans)}`)
  return plan
}

export function resolvePlan(
  services: CatalogService[],
  serviceRef: string,
  planRef?: string,
): {service: CatalogService; plan: CatalogPlan} {
  const service = serviceByRef(services, serviceRef)
  return {service, plan: planByRef(service, planRef)}
}

/** Names for an instance's service and plan ids; the ids themselves when the catalog no longer has them. */
export function catalogNames(
  services: CatalogService[],
  serviceId: string,
  planId: string,
): {service: string; plan: string} {
  const service = services.find((s) => s.id === serviceId)
  return {service: service?.name ?? serviceId, plan: service?.plans.find((p) => p.id === planId)?.name ?? planId}
}
