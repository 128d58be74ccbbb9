import type {HostView, InstanceView} from '../core/admin.js'
import {
  endpoint,
  formatBytes,
  hostState,
  formatDuration,
  formatPercent,
  instanceHealth,
  instanceTone,
  uptime,
} from '../core/format.js'
import {type Column, renderTable} from './table.js'

/** The instances table of `dbroker instances` and of `dbroker top` without a terminal. */
export function instancesTable(instances: InstanceView[], options: {color?: boolean} = {}): string {
  const columns: Array<Column<InstanceView>> = [
    {header: 'name', value: (i) => i.name ?? '-'},
    {header: 'id', value: (i) => i.id},
    {header: 'service', value: (i) => `${i.service}/${i.plan}`},
    {header: 'health', value: instanceHealth, tone: instanceTone},
    {header: 'host', value: (i) => i.hostId},
    {header: 'endpoint', value: endpoint},
    {header: 'restarts', value: (i) => String(i.container?.restartCount ?? '-'), align: 'right'},
    {header: 'uptime', value: (i) => uptime(i), align: 'right'},
    {header: 'cpu', value: (i) => formatPercent(i.stats?.cpuPercent), align: 'right'},
    {header: 'mem', value: (i) => formatBytes(i.stats?.memoryBytes), align: 'right'},
  ]
  // Only where the supervisor saw some container die: the table stays as it was otherwise.
  if (instances.some((i) => i.container?.lastExitCode !== undefined || i.container?.oomKilled))
    columns.push({header: 'last exit', value: lastExit, tone: (i) => (i.container?.failing ? 'bad' : undefined)})
  return renderTable(instances, columns, options)
}

/** How the container last ended, as the supervisor saw it: `3`, `137 (oom)`, `-`. */
function lastExit(i: InstanceView): string {
  const c = i.container
  if (c?.lastExitCode === undefined) return c?.oomKilled ? 'oom' : '-'
  return `${c.lastExitCode}${c.oomKilled ? ' (oom)' : ''}`
}

export function hostsTable(hosts: HostView[], options: {color?: boolean} = {}): string {
  const columns: Array<Column<HostView>> = [
    {header: 'host', value: (h) => h.id},
    {
      header: 'status',
      value: (h) => `${hostState(h)}${h.drained ? ', drained' : ''}`,
      tone: (h) => (h.status === 'alive' ? 'good' : 'bad'),
    },
    {header: 'why', value: (h) => h.reachability?.reason ?? '-'},
    {header: 'heartbeat', value: (h) => `${formatDuration(h.heartbeatAgeMs)} ago`, align: 'right'},
    {header: 'address', value: (h) => h.serviceAddress},
    {
      header: 'engine',
      value: engineOf,
      tone: (h) => (({down: 'bad', slow: 'warn', ok: undefined}) as const)[h.facts?.engine?.status ?? 'ok'],
    },
    {header: 'cpus', value: (h) => String(h.facts?.cpus ?? '-'), align: 'right'},
    {header: 'memory', value: (h) => formatBytes(h.facts?.memoryBytes), align: 'right'},
    {header: 'containers', value: (h) => String(h.facts?.containersRunning ?? '-'), align: 'right'},
    {header: 'instances', value: (h) => String(h.instances), align: 'right'},
    {header: 'disks', value: (h) => h.facts?.disks?.driver ?? '-'},
    {header: 'logging', value: (h) => h.facts?.loggingDriver ?? '-'},
    {header: 'mirrors', value: (h) => h.facts?.registryMirrors.join(',') || '-'},
    {header: 'insecure', value: (h) => h.facts?.insecureRegistries.join(',') || '-'},
    {
      header: 'registry',
      value: (h) => (h.registry?.state === 'not set' ? '-' : (h.registry?.state ?? '-')),
      tone: (h) => (h.registry?.state === 'not applied' ? 'bad' : undefined),
    },
  ]
  return renderTable(hosts, columns, options)
}

/** The engine's version, and its condition when it is not answering well: `20.10.24 (slow)`, `20.10.24 (down 12s)`. */
function engineOf(h: HostView): string {
  const engine = h.facts?.engine
  const version = h.facts?.engineVersion ?? '-'
  if (!engine || engine.status === 'ok') return version
  return `${version} (${engine.status}${engine.ageMs >= 1000 ? ` ${formatDuration(engine.ageMs)}` : ''})`
}
