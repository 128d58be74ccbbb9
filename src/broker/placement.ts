import type {PlanDef} from '../catalog/index.js'
import {OsbError} from '../core/errors.js'
import type {Host} from '../core/types.js'

export type PlacementStrategy = 'spread' | 'binpack' | 'random'

export const HEARTBEAT_MISSES = 3

/** A host is live while it heartbeats: dead after missing HEARTBEAT_MISSES of its own interval. */
export function isLive(host: Host, keepaliveMs: number, now = Date.now()): boolean {
  return host.status === 'alive' && now - host.lastHeartbeat <= (host.keepaliveMs ?? keepaliveMs) * HEARTBEAT_MISSES
}

export interface HostLoad {
  /** Instances per host. */
  counts: Map<string, number>
  /** Host ports in use per host. */
  usedPorts: Map<string, number>
  /** Memory limits of the instances per host. */
  memory?: Map<string, number>
}

/** Why a host can't take an instance of `plan`, or undefined when it can. */
function unfit(host: Host, load: HostLoad, plan: PlanDef, keepaliveMs: number, now?: number): string | undefined {
  // Heartbeats come but the broker's own calls fail: an instance placed there could not be made.
  if (host.status === 'unreachable') return 'unreachable (broker -> agent)'
  if (!isLive(host, keepaliveMs, now)) return 'dead'
  if (host.drained) return 'drained'
  // Its agent still heartbeats, but nothing can start there until the engine answers again.
  if (host.facts?.engine?.status === 'down') return 'engine down'
  const rule = plan.placement
  if (rule?.zones && !rule.zones.includes(host.zone ?? '')) return 'not in the zone'
  if (rule && Object.entries(rule.labels).some(([k, v]) => host.labels[k] !== v)) return 'without the labels'
  if (host.portMax - host.portMin + 1 - (load.usedPorts.get(host.id) ?? 0) < (plan.container?.ports.length ?? 0))
    return 'full'
  if (host.capacity?.maxContainers != null && (load.counts.get(host.id) ?? 0) >= host.capacity.maxContainers)
    return 'full'
  const memory = plan.container?.memory ?? 0
  if (host.capacity?.memoryBytes != null && (load.memory?.get(host.id) ?? 0) + memory > host.capacity.memoryBytes)
    return 'full'
  return undefined
}

/** Picks the host for a new instance; no eligible host is a clear 503 with nothing allocated. */
export function placeInstance(
  hosts: Host[],
  counts: Map<string, number>,
  usedPorts: Map<string, number>,
  plan: PlanDef,
  options: {strategy: PlacementStrategy; keepaliveMs: number; now?: number; memory?: Map<string, number>},
): Host {
  const load: HostLoad = {counts, usedPorts, memory: options.memory}
  const reasons = new Map(hosts.map((h) => [h.id, unfit(h, load, plan, options.keepaliveMs, options.now)]))
  const eligible = hosts.filter((h) => reasons.get(h.id) === undefined)
  if (eligible.length === 0) {
    const full = hosts.filter((h) => reasons.get(h.id) === 'full')
    const constrained = plan.placement ? `; plan ${plan.name} wants ${describeRule(plan)}` : ''
    const why =
      hosts.length === 0
        ? 'no host has registered'
        : full.length === hosts.length
          ? hosts.length === 1
            ? `host ${hosts[0].id} is full (ports ${hosts[0].portMin}-${hosts[0].portMax}, capacity)`
            : 'every host is full'
          : `none of ${hosts.length} hosts is alive, undrained, matching and with room (${[...reasons].map(([id, r]) => `${id}: ${r}`).join(', ')})${constrained}`
    throw new OsbError(503, `no host can take this instance: ${why}`)
  }
  const load1 = (h: Host) => counts.get(h.id) ?? 0
  if (options.strategy === 'random') return eligible[Math.floor(Math.random() * eligible.length)]
  const sorted = [...eligible].sort((a, b) => load1(a) - load1(b) || a.id.localeCompare(b.id))
  return options.strategy === 'binpack' ? sorted[sorted.length - 1] : sorted[0]
}

function describeRule(plan: PlanDef): string {
  const parts = [
    ...(plan.placement?.zones ? [`zone ${plan.placement.zones.join('|')}`] : []),
    ...Object.entries(plan.placement?.labels ?? {}).map(([k, v]) => `${k}=${v}`),
  ]
  return parts.join(', ')
}
