import type {BindingView, InstanceDetail, InstanceView} from '../core/admin.js'
import type {DeployedContainerView} from '../core/deployments.js'
import {confinement} from '../core/security.js'
import {
  endpoint,
  formatBytes,
  formatDuration,
  formatPercent,
  formatRemaining,
  instanceHealth,
  uptime,
} from '../core/format.js'
import {type Column, renderTable} from './table.js'

/** A plan kind with what it means for the container: whose it is, and who else lives in it. */
function kindText(i: Pick<InstanceDetail, 'kind' | 'tenants'>): string {
  if (i.kind === 'static') return "static (no container: the operator's credentials)"
  const others = i.tenants ? `, with ${i.tenants} other instance(s)` : ''
  return i.kind === 'shared' ? `shared (a container of many${others})` : `existing (the operator's container${others})`
}

/** `dbroker show`: one instance as labelled lines, the way `docker inspect` would if it were for people. */
export function instanceDetailText(i: InstanceDetail, now = Date.now()): string {
  const rows: Array<[string, string]> = [
    ['name', i.name ?? '-'],
    ['id', i.id],
    ['service', `${i.service}/${i.plan}`],
    ['state', i.state],
    ...(i.kind && i.kind !== 'dedicated' ? [['kind', kindText(i)] as [string, string]] : []),
    ['health', instanceHealth(i)],
    ['host', i.hostId],
    ['endpoint', endpoint(i)],
    ['ports', portsText(i)],
    ['image', i.image],
    ['container', containerText(i, now)],
    ['limits', `memory ${formatBytes(i.memoryLimitBytes)}, cpu ${i.nanoCpus ? `${i.nanoCpus / 1e9}` : '-'}`],
    ['usage', i.stats ? `cpu ${formatPercent(i.stats.cpuPercent)}, memory ${formatBytes(i.stats.memoryBytes)}` : '-'],
    ['security', i.security ? confinement(i.security) : '-'],
    ['volumes', i.volumes.map((v) => `${v.name}:${v.path}`).join(', ') || '-'],
    ...(i.disk ? [['disk', `${formatBytes(i.disk.sizeBytes)} at ${i.disk.path}`] as [string, string]] : []),
    [
      'operation',
      i.lastOperation
        ? `${i.lastOperation.kind} ${i.lastOperation.state} ${formatDuration(now - i.lastOperation.updatedAt)} ago: ${i.lastOperation.description}`
        : '-',
    ],
    ['bindings', String(i.bindings.length)],
  ]
  return `${labelled(rows)}${i.bindings.length ? `\n${bindingsTable(i.bindings.map((b) => ({instance: i.name ?? i.id, ...b})))}` : ''}`
}

/** `dbroker show` of a manifest-deployed container: what the deploy made of it and what its host reports. */
export function deployedContainerText(c: DeployedContainerView, now = Date.now()): string {
  return labelled([
    ['name', `${c.deployment}/${c.name}`],
    ['id', c.id],
    ['deployment', c.deployment],
    ['state', c.deployState],
    ['health', instanceHealth(c)],
    ['host', c.hostId],
    ['endpoint', endpoint(c)],
    ['ports', portsText(c)],
    ['image', c.image],
    ['container', containerText(c, now)],
    ['depends on', c.dependsOn.join(', ') || '-'],
    ...(c.error ? [['error', c.error] as [string, string]] : []),
  ])
}

const portsText = (i: InstanceView) =>
  i.ports.map((p) => `${i.address}:${p.host}->${p.container}/${p.protocol}`).join(', ') || '-'

const containerText = (i: InstanceView, now: number) =>
  i.container ? `${i.container.status}, ${i.container.restartCount} restart(s), up ${uptime(i, now)}` : '-'

/** Labelled lines, the labels padded to one width. */
function labelled(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length))
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`
}

export type BindingRow = BindingView & {instance: string}

export function bindingsTable(rows: BindingRow[]): string {
  const columns: Array<Column<BindingRow>> = [
    {header: 'instance', value: (b) => b.instance},
    {header: 'binding', value: (b) => b.id},
    {header: 'state', value: (b) => b.state},
    {header: 'app', value: (b) => b.appGuid ?? '-'},
    {header: 'age', value: (b) => formatDuration(Date.now() - b.createdAt), align: 'right'},
  ]
  // Only where some binding has a ttl: bindings made without one keep the table as it was.
  if (rows.some((b) => b.expiresAt))
    columns.push({
      header: 'expires in',
      value: (b) => (b.expiresAt ? formatRemaining(Math.max(0, b.expiresAt - Date.now())) : '-'),
      align: 'right',
    })
  const withUri = rows.some((b) => b.credentials?.uri)
  if (withUri) columns.push({header: 'uri', value: (b) => String(b.credentials?.uri ?? '-')})
  return renderTable(rows, columns)
}
