import path from 'node:path'

import {CatalogError, parseCatalog, type ServiceDef} from '../catalog/index.js'
import type {CatalogProblem} from '../core/catalog-admin.js'
import {OsbError} from '../core/errors.js'
import type {ServiceInstance} from '../core/types.js'

/** The problems a 400 of the catalog routes carries, so a client can point at its own file's lines. */
export function invalidService(problems: CatalogProblem[]): OsbError {
  return new OsbError(
    400,
    `invalid service:\n${problems.map((p) => `  ${p.path || 'service'}: ${p.message}`).join('\n')}`,
    undefined,
    {problems},
  )
}

/** A build context reaches the API as an absolute path: relative to what would it be? */
function relativeBuilds(input: unknown): CatalogProblem[] {
  const plans = (input as {plans?: unknown})?.plans
  if (!Array.isArray(plans)) return []
  return plans.flatMap((plan, i) => {
    const build = (plan as {container?: {build?: unknown}})?.container?.build
    const context = typeof build === 'string' ? build : (build as {context?: unknown} | undefined)?.context
    return typeof context === 'string' && !path.isAbsolute(context)
      ? [
          {
            path: `service.plans[${i}].container.build`,
            message: `"${context}" must be an absolute path on the hosts (\`dbroker services add\` resolves one relative to its file)`,
          },
        ]
      : []
  })
}

/**
 * `changed` checked as the catalog file's loader checks a file: the same
 * schema and the same rules across services (ids unique, names unique, ...),
 * against the `others` it would join. Every problem is reported at `changed`
 * (it comes last, so a clash is found there), with paths from the body.
 */
export function checkService(others: ServiceDef[], changed: unknown): {others: ServiceDef[]; changed: ServiceDef} {
  const relative = relativeBuilds(changed)
  if (relative.length > 0) throw invalidService(relative)
  const at = others.length
  const nameOf = (i: number) => (i === at ? 'this service' : `service "${others[i]?.name}"`)
  try {
    // JSON is YAML: the one loader, its schema and its rules, on the catalog this change would make.
    const {definition} = parseCatalog(JSON.stringify({services: [...others, changed]}), 'the catalog')
    return {others: definition.services.slice(0, at), changed: definition.services[at]}
  } catch (error) {
    if (!(error instanceof CatalogError)) throw error
    throw invalidService(
      error.problems.map((p) => ({
        path: p.path.startsWith(`services[${at}]`) ? `service${p.path.slice(`services[${at}]`.length)}` : p.path,
        message: p.message.replace(/services\[(\d+)\]\.?/g, (_, i: string) => `${nameOf(Number(i))} `),
      })),
    )
  }
}

/** Instances that would lose their plan if `before` became `after` (undefined: removed); a 409 naming them. */
type ServicePlans = {id: string; name: string; plans: Array<{id: string; name: string}>}

export function checkInstancesKept(
  instances: ServiceInstance[],
  before: ServicePlans,
  after: ServicePlans | undefined,
): void {
  const kept = new Set(after && after.id === before.id ? after.plans.map((p) => p.id) : [])
  const orphaned = instances.filter((i) => i.serviceId === before.id && !kept.has(i.planId))
  if (orphaned.length === 0) return
  const byPlan = new Map<string, ServiceInstance[]>()
  for (const instance of orphaned) byPlan.set(instance.planId, [...(byPlan.get(instance.planId) ?? []), instance])
  const label = (i: ServiceInstance) => (i.name ? `${i.name} (${i.id})` : i.id)
  const plans = [...byPlan].map(([planId, of]) => {
    const plan = before.plans.find((p) => p.id === planId)
    return `plan ${plan?.name ?? planId} of ${before.name} has instances: ${of.map(label).join(', ')}`
  })
  const why = !after ? 'cannot be removed' : after.id !== before.id ? 'cannot change its id' : 'cannot drop a plan'
  throw new OsbError(409, `service ${before.name} ${why}: ${plans.join('; ')}; deprovision them first`, undefined, {
    instances: orphaned.map((i) => ({id: i.id, name: i.name, planId: i.planId})),
  })
}
