import {setTimeout as sleep} from 'node:timers/promises'

import type {Catalog, PlanDef, ServiceDef} from '../../catalog/index.js'
import type {AgentClient} from '../../core/agent.js'
import {canonical as canonicalJson} from '../../core/canonical-json.js'
import {badRequest, OsbError} from '../../core/errors.js'
import type {Logger} from '../../core/log.js'
import type {Host, ServiceInstance} from '../../core/types.js'
import {PortRangeFullError, type Store} from '../../store/index.js'
import type {BrokerEvents} from '../events.js'
import {fenced} from '../lease-fence.js'
import type {PlacementStrategy} from '../placement.js'
import {HostActivity} from './host-activity.js'

/** Time as the lifecycle sees it; tests pass their own to run waits without waiting. */
export interface Clock {
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, {signal}),
}

export interface LifecycleOptions {
  store: Store
  catalog: Catalog
  /** The agent that runs a host's containers: in-process for `up`, HTTP for a remote host. */
  agentFor: (host: Host) => AgentClient
  events: BrokerEvents
  log: Logger
  brokerId: string
  keepaliveMs: number
  strategy?: PlacementStrategy
  clock?: Clock
}

/** What every part of the lifecycle shares. */
export type LifecycleContext = Required<LifecycleOptions> & {
  /** The applies in flight per host, which background execs wait out. */
  activity: HostActivity
}

export function lifecycleContext(options: LifecycleOptions): LifecycleContext {
  const clock = options.clock ?? systemClock
  const activity = new HostActivity(clock)
  return {
    strategy: 'spread',
    ...options,
    clock,
    activity,
    // Operations reach the store and the agents through the lease fence: once abandoned they change nothing more.
    store: fenced(options.store),
    agentFor: (host) => activity.watch(host.id, fenced(options.agentFor(host))),
  }
}

/** Books host ports for a container in the placing transaction; a full range is a 503 with nothing booked. */
export async function bookPorts(tx: Store, host: Host, id: string, containerPorts: number[]) {
  try {
    return await tx.allocatePorts(host, id, containerPorts)
  } catch (error) {
    if (error instanceof PortRangeFullError) throw new OsbError(503, error.message)
    throw error
  }
}

/** How long an async request waits for a dead host when its plan sets no maximum_polling_duration. */
export const DEFAULT_POLLING_SECONDS = 3600

export {canonical} from '../../core/canonical-json.js'

/** The request key of an instance after an update to `planId` with `parameters`: what a repeated provision compares. */
export const updatedRequestKey = (
  instance: Pick<ServiceInstance, 'serviceId' | 'organizationGuid' | 'spaceGuid'>,
  planId: string,
  parameters: Record<string, unknown>,
) =>
  canonicalJson({
    service_id: instance.serviceId,
    plan_id: planId,
    organization_guid: instance.organizationGuid,
    space_guid: instance.spaceGuid,
    parameters,
  })

export const isEmpty = (value: object | undefined) => !value || Object.keys(value).length === 0

export interface ServicePlan {
  service: ServiceDef
  plan: PlanDef
}

/** The plan a request names, which must belong to the service it names. */
export function resolvePlan(catalog: Catalog, serviceId: string, planId: string): ServicePlan {
  const found = catalog.plan(planId)
  if (!found) throw badRequest(`plan ${planId} is not in the catalog`)
  if (found.service.id !== serviceId) throw badRequest(`plan ${planId} does not belong to service ${serviceId}`)
  return found
}

export function planOf(catalog: Catalog, instance: ServiceInstance): ServicePlan {
  const found = catalog.plan(instance.planId)
  if (!found) throw new OsbError(500, `plan ${instance.planId} of instance ${instance.id} is no longer in the catalog`)
  return found
}

export function checkMaintenance(plan: PlanDef, requested: {version: string} | undefined): void {
  if (requested && requested.version !== plan.maintenance_info?.version) {
    throw new OsbError(
      422,
      `maintenance_info.version ${requested.version} does not match the catalog's ${plan.maintenance_info?.version ?? '(none)'} for plan ${plan.name}`,
      'MaintenanceInfoConflict',
    )
  }
}

/** How long an operation on an instance of `planId` may wait for its host, in seconds. */
export function pollingSeconds(catalog: Catalog, planId: string): number {
  return catalog.plan(planId)?.plan.maximum_polling_duration ?? DEFAULT_POLLING_SECONDS
}
