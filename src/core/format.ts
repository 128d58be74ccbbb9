/** How sizes, ages and rates read on every screen and table. */
import type {HostView, InstanceView} from './admin.js'

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-'
  const units = ['B', 'K', 'M', 'G', 'T']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)}${units[unit]}`
}

/** 45s, 12m, 3h, 2d. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '-'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

/**
 * Time left in its two largest units, the smaller rounded to nearest (`4h`
 * just after a 4 h ttl starts, then `3h59m`): formatDuration's floor would say
 * 3h for nearly four.
 */
export function formatRemaining(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '-'
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ]
  const big = units.findIndex(([, size]) => ms >= size)
  if (big === -1 || big === units.length - 1) return `${Math.round(ms / 1000)}s`
  const [bigName, bigSize] = units[big]
  const [smallName, smallSize] = units[big + 1]
  const total = Math.round(ms / smallSize)
  // 59m59.6s rounds to an hour: say 1h, not 60m.
  if (big > 0 && total * smallSize >= units[big - 1][1]) return formatRemaining(total * smallSize)
  const whole = Math.floor(total / (bigSize / smallSize))
  const rest = total - whole * (bigSize / smallSize)
  return `${whole}${bigName}${rest ? `${rest}${smallName}` : ''}`
}

export function formatPercent(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : `${value.toFixed(value < 10 ? 1 : 0)}%`
}

export function uptime(instance: Pick<InstanceView, 'container'>, now = Date.now()): string {
  const started =
    instance.container?.status === 'running' && instance.container.startedAt
      ? Date.parse(instance.container.startedAt)
      : NaN
  return Number.isNaN(started) ? '-' : formatDuration(now - started)
}

export function endpoint(instance: Pick<InstanceView, 'address' | 'ports'>): string {
  return instance.ports.length ? `${instance.address}:${instance.ports.map((p) => p.host).join(',')}` : instance.address
}

export type Tone = 'good' | 'warn' | 'bad' | 'muted'

/** The colour an instance's health reads in: its container first, the broker's state otherwise. */
export function instanceTone(instance: Pick<InstanceView, 'state' | 'container' | 'kind'>): Tone {
  if (instance.state === 'failed') return 'bad'
  if (instance.state !== 'ready') return 'warn'
  if (instance.kind === 'static') return 'good'
  const c = instance.container
  if (!c) return 'muted'
  if (c.failing) return 'bad'
  if (c.status === 'restarting' || c.health === 'starting') return 'warn'
  if (c.status !== 'running' || c.health === 'unhealthy') return 'bad'
  return 'good'
}

/** One word for an instance's health: its container's, or the broker's state while it changes. */
export function instanceHealth(instance: Pick<InstanceView, 'state' | 'container' | 'kind'>): string {
  if (instance.state !== 'ready') return instance.state
  // A static plan runs nothing: there is no container to be missing.
  if (instance.kind === 'static') return 'static'
  const c = instance.container
  if (!c) return 'unknown'
  // The host's supervisor gave up on it: more telling than the engine's restarting/exited.
  if (c.failing) return 'failing'
  if (c.status !== 'running') return c.status
  return c.health === 'none' ? 'running' : c.health
}

/** A host's status with the direction that fails: `alive`, `unreachable (out)`, `dead (in)`, `dead (both)`. */
export function hostState(host: Pick<HostView, 'status' | 'reachability'>): string {
  return host.reachability ? `${host.status} (${host.reachability.direction})` : host.status
}
