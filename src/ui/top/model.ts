import type {InstanceView} from '../../core/admin.js'
import {escapeControls} from '../../core/control-chars.js'
import {parseDeploymentKey} from '../../core/deployments.js'

export const SORT_KEYS = ['name', 'service', 'host', 'health', 'cpu', 'memory', 'restarts', 'uptime'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export const nextSort = (key: SortKey): SortKey => SORT_KEYS[(SORT_KEYS.indexOf(key) + 1) % SORT_KEYS.length]

/** Sorts whose natural order is biggest first: the busiest, largest, most restarted, longest up. */
const BIGGEST_FIRST: ReadonlySet<SortKey> = new Set(['cpu', 'memory', 'restarts', 'uptime'])

/** Whether the rows run from the biggest value down, as the header's ▼ says. */
export const isDescending = (key: SortKey, reverse: boolean) => BIGGEST_FIRST.has(key) !== reverse

const label = (i: InstanceView) => i.name ?? i.id

const compare: Record<SortKey, (a: InstanceView, b: InstanceView) => number> = {
  name: (a, b) => label(a).localeCompare(label(b)),
  service: (a, b) =>
    `${a.service}/${a.plan}`.localeCompare(`${b.service}/${b.plan}`) || label(a).localeCompare(label(b)),
  host: (a, b) => a.hostId.localeCompare(b.hostId) || label(a).localeCompare(label(b)),
  health: (a, b) =>
    `${a.state}${a.container?.status}${a.container?.health}`.localeCompare(
      `${b.state}${b.container?.status}${b.container?.health}`,
    ),
  cpu: (a, b) => (b.stats?.cpuPercent ?? -1) - (a.stats?.cpuPercent ?? -1),
  memory: (a, b) => (b.stats?.memoryBytes ?? -1) - (a.stats?.memoryBytes ?? -1),
  restarts: (a, b) => (b.container?.restartCount ?? -1) - (a.container?.restartCount ?? -1),
  uptime: (a, b) => Date.parse(a.container?.startedAt ?? '') - Date.parse(b.container?.startedAt ?? '') || 0,
}

/** The rows the instances panel shows: on `host` if given, matching the filter (any of name, id, service, plan, host, state), sorted. */
export function visibleInstances(
  instances: InstanceView[],
  filter: string,
  sort: SortKey,
  host: string | null = null,
  reverse = false,
): InstanceView[] {
  const needle = filter.trim().toLowerCase()
  const onHost = host === null ? instances : instances.filter((i) => i.hostId === host)
  const matching = needle
    ? onHost.filter((i) =>
        [i.name ?? '', i.id, i.service, i.plan, i.hostId, i.state, i.container?.status ?? ''].some((f) =>
          f.toLowerCase().includes(needle),
        ),
      )
    : onHost
  const order = compare[sort]
  return [...matching].sort(reverse ? (a, b) => order(b, a) : order)
}

/** The first row to draw so that `selected` stays inside a window of `height` rows. */
export function scrollOffset(selected: number, offset: number, height: number, total: number): number {
  if (height <= 0) return 0
  let next = offset
  if (selected < next) next = selected
  if (selected >= next + height) next = selected - height + 1
  return Math.max(0, Math.min(next, Math.max(0, total - height)))
}

const BLOCKS = '▁▂▃▄▅▆▇█'

/** A sparkline of values scaled to `max` (or their own peak). */
export function sparkline(values: number[], width: number, max?: number): string {
  const shown = values.slice(-width)
  const peak = max ?? Math.max(1, ...shown)
  return shown
    .map((v) => BLOCKS[Math.min(BLOCKS.length - 1, Math.max(0, Math.round((v / peak) * (BLOCKS.length - 1))))])
    .join('')
    .padStart(width, ' ')
}

/**
 * What 100 % of an instance's CPU history is, in percent of one core as Docker counts:
 * its spec's limit, else every core of its host (null: neither is known yet).
 */
export function cpuCeiling(i: InstanceView, hostCpus?: number): number | null {
  const cores = i.limits?.cpus ?? hostCpus
  return cores ? cores * 100 : null
}

/** The limit as the history's label: `0.5c`, `2c`; `none` when the spec sets none. */
export const cpuLimitLabel = (i: InstanceView) =>
  i.limits?.cpus ? `${Number(i.limits.cpus.toFixed(2))}c` : i.limits ? 'none' : '?'

/** The memory limit usage is measured against: the spec's, else what Docker reports (the host's memory). */
export const memoryCeiling = (i: InstanceView): number | null =>
  i.limits?.memoryBytes ?? i.stats?.memoryLimitBytes ?? null

/** A bar of `width` cells, `fraction` of it full. */
export function meterBar(fraction: number, width: number): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return '█'.repeat(full) + '░'.repeat(width - full)
}

/** How full a meter is, as a tone: over 90 % is bad, over 70 % a warning. */
export const meterTone = (fraction: number): 'good' | 'warn' | 'bad' =>
  fraction >= 0.9 ? 'bad' : fraction >= 0.7 ? 'warn' : 'good'

/** Splits text around the matches of `needle` (case-insensitive) for highlighting. */
export function splitMatches(text: string, needle: string): Array<{text: string; match: boolean}> {
  if (!needle) return [{text, match: false}]
  const parts: Array<{text: string; match: boolean}> = []
  const lower = text.toLowerCase()
  const want = needle.toLowerCase()
  let at = 0
  for (let found = lower.indexOf(want); found >= 0; found = lower.indexOf(want, found + want.length)) {
    if (found > at) parts.push({text: text.slice(at, found), match: false})
    parts.push({text: text.slice(found, found + want.length), match: true})
    at = found + want.length
  }
  if (at < text.length) parts.push({text: text.slice(at), match: false})
  return parts
}

/** A cell of `width` columns; control characters from the broker are shown escaped, never sent to the terminal. */
export const fit = (raw: string, width: number) => {
  const text = escapeControls(raw)
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text.padEnd(width)
}

/**
 * A host's heartbeat age as the screen shows it: the broker's figure while it answers; while the rows are stale,
 * counted on from the host's last beat the broker reported (it cannot be younger than that).
 */
export function beatAge(
  host: {id: string; heartbeatAgeMs: number},
  stale: boolean,
  beatsAt: ReadonlyMap<string, number> | undefined,
  now: number,
): number {
  const at = beatsAt?.get(host.id)
  return stale && at !== undefined ? Math.max(host.heartbeatAgeMs, now - at) : host.heartbeatAgeMs
}

/** A manifest's container (`deploy:` id) as `<deployment>/<container>`, with its deployment; undefined for an instance. */
export function deployedTarget(id: string | null | undefined): {deployment: string; label: string} | undefined {
  const key = id ? parseDeploymentKey(id) : undefined
  return key && {deployment: key.deployment, label: `${key.deployment}/${key.container}`}
}
