import type {PlanDef} from '../catalog/index.js'
import {OsbError} from '../core/errors.js'
import type {Host} from '../core/types.js'

export type PlacementStrategy = 'spread' | 'binpack' | 'random'

export const HEARTBEAT_MISSES = 3

/** A host takes new instances while it heartbeats, isn't drained and has room in its port range. */
export function isLive(host: Host, keepaliveMs: number, now = Date.now()): boolean {
  return host.status === 'alive' && now - host.lastHeartbeat <= keepaliveMs * HEARTBEAT_MISSES
}

/** Picks the host for a new instance; no eligible host is a clear 503 with nothing allocated. */
export function placeInstance(
  hosts: Host[],
  counts: Map<string, number>,
  usedPorts: Map<string, number>,
  plan: PlanDef,
  options: {strategy: PlacementStrategy; keepaliveMs: number; now?: number},
): Host {
  const portsNeeded = plan.container.ports.length
  const eligible = hosts.filter(
    (h) => isLive(h, options.keepaliveMs, options.now) && !h.drained && h.portMax - h.portMin + 1 - (usedPorts.get(h.id) ?? 0) >= portsNeeded,
  )
  if (eligible.length === 0) {
    const full = hosts.filter((h) => h.portMax - h.portMin + 1 - (usedPorts.get(h.id) ?? 0) < portsNeeded)
    const why =
      hosts.length === 0
        ? 'no host has registered'
        : full.length === hosts.length
          ? `the port range of ${hosts.length === 1 ? `host ${hosts[0].id} (${hosts[0].portMin}-${hosts[0].portMax}) is full` : 'every host is full'}`
          : `none of ${hosts.length} hosts is alive with free ports and accepting instances`
    throw new OsbError(503, `no host can take this instance: ${why}`)
  }
  const load = (h: Host) => counts.get(h.id) ?? 0
  if (options.strategy === 'random') return eligible[Math.floor(Math.random() * eligible.length)]
  const sorted = [...eligible].sort((a, b) => load(a) - load(b) || a.id.localeCompare(b.id))
  return options.strategy === 'binpack' ? sorted[sorted.length - 1] : sorted[0]
}
