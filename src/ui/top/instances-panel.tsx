import {Text} from 'ink'

import type {InstanceView} from '../../core/admin.js'
import {endpoint, formatBytes, formatPercent, instanceHealth, instanceTone, uptime} from '../../core/format.js'
import {type Column, headerText, layoutColumns, type PlacedColumn, sortMark, cellText as cell} from './columns.js'
import {cpuCeiling, cpuLimitLabel, fit, memoryCeiling, meterBar, meterTone, type SortKey, sparkline} from './model.js'
import {PanelBox} from './chrome.js'
import {useTone} from './theme.js'

export interface InstancesPanelProps {
  /** Already filtered and sorted. */
  rows: InstanceView[]
  total: number
  /** No answer from the broker yet. */
  loading?: boolean
  cpuHistory: ReadonlyMap<string, number[]>
  /** Cores of each host: the CPU history of an instance without a limit is scaled to its host. */
  hostCpus?: ReadonlyMap<string, number>
  selected: number
  /** First row drawn: only `height` rows from here are rendered. */
  offset: number
  height: number
  width: number
  focused: boolean
  sort: SortKey
  sortReverse?: boolean
  filter: string
  /** The broker stopped answering: health is the last seen, shown as such. */
  stale?: boolean
  now?: number
}

/**
 * The instances list's columns. At 80 columns NAME, HEALTH, ENDPOINT, RST, CPU and MEM
 * stay; the host, service, last exit, memory and CPU against their limits, and uptime go first, in that order.
 */
/** Samples in a CPU history cell, and the width of the limit's label after them and after a memory bar. */
const HISTORY_BLOCKS = 10
const LIMIT_LABEL = 5

export const INSTANCE_COLUMNS: Column[] = [
  {id: 'name', header: 'NAME', width: 14, growTo: 28, priority: 0, sort: 'name'},
  {id: 'service', header: 'SERVICE', width: 18, priority: 4, sort: 'service'},
  {id: 'health', header: 'HEALTH', width: 10, priority: 0, sort: 'health'},
  {id: 'endpoint', header: 'ENDPOINT', width: 21, growTo: 26, priority: 0},
  {id: 'host', header: 'HOST', width: 10, growTo: 14, priority: 5, sort: 'host'},
  {id: 'restarts', header: 'RST', width: 4, priority: 0, align: 'right', sort: 'restarts'},
  {id: 'exit', header: 'EXIT', width: 9, priority: 3},
  {id: 'uptime', header: 'UP', width: 5, priority: 1, align: 'right', sort: 'uptime'},
  {id: 'cpu', header: 'CPU', width: 6, priority: 0, align: 'right', sort: 'cpu'},
  {id: 'history', header: 'CPU HISTORY', width: HISTORY_BLOCKS + 1 + LIMIT_LABEL, priority: 2},
  {id: 'memory', header: 'MEM', width: 6, priority: 0, align: 'right', sort: 'memory'},
  {id: 'membar', header: 'MEM/LIMIT', width: 7 + LIMIT_LABEL, priority: 2},
]

/** The container's last exit as the supervisor saw it, as `dbroker instances` shows it: `3`, `137 (oom)`, `-`. */
export const lastExit = (i: InstanceView) => {
  const c = i.container
  if (!c || c.lastExitCode === undefined) return c?.oomKilled ? 'oom' : '-'
  return `${c.lastExitCode}${c.oomKilled ? ' (oom)' : ''}`
}

/** Inside the rounded border and its padding. */
export const innerWidth = (width: number) => Math.max(20, width - 4)

export function InstancesPanel({
  rows,
  total,
  loading = false,
  cpuHistory,
  hostCpus,
  selected,
  offset,
  height,
  width,
  focused,
  sort,
  sortReverse = false,
  filter,
  stale = false,
  now = Date.now(),
}: InstancesPanelProps) {
  const tone = useTone()
  const shown = rows.slice(offset, offset + height)
  const columns = layoutColumns(INSTANCE_COLUMNS, innerWidth(width))
  const count = rows.length === total ? `${total}` : `${rows.length}/${total}`
  const render = (i: InstanceView, column: PlacedColumn) => {
    switch (column.id) {
      case 'name':
        return cell(i.name ?? i.id, column)
      case 'service':
        return cell(`${i.service}/${i.plan}`, column)
      case 'host':
        return cell(i.hostId, column)
      case 'health':
        return stale ? (
          <Text color={tone('muted')}>{cell(`${instanceHealth(i)}?`, column)}</Text>
        ) : (
          <Text color={tone(instanceTone(i))}>{cell(instanceHealth(i), column)}</Text>
        )
      case 'endpoint':
        return cell(endpoint(i), column)
      case 'restarts': {
        const count = i.container?.restartCount
        return <Text color={tone(count ? 'warn' : undefined)}>{cell(String(count ?? '-'), column)}</Text>
      }
      case 'exit':
        return <Text color={tone(i.container?.oomKilled ? 'bad' : undefined)}>{cell(lastExit(i), column)}</Text>
      case 'uptime':
        return cell(uptime(i, now), column)
      case 'cpu':
        return cell(formatPercent(i.stats?.cpuPercent), column)
      case 'history': {
        const samples = cpuHistory.get(i.id) ?? []
        const ceiling = cpuCeiling(i, hostCpus?.get(i.hostId))
        const label = cpuLimitLabel(i).padStart(LIMIT_LABEL)
        return (
          <Text>
            <Text color={tone(ceiling ? meterTone((samples.at(-1) ?? 0) / ceiling) : 'muted')}>
              {sparkline(samples, column.width - label.length - 1, ceiling ?? undefined)}
            </Text>{' '}
            <Text dimColor>{label}</Text>
          </Text>
        )
      }
      case 'memory':
        return cell(formatBytes(i.stats?.memoryBytes), column)
      case 'membar': {
        const ceiling = memoryCeiling(i)
        if (!i.stats || !ceiling) return cell('-', column)
        const fraction = i.stats.memoryBytes / ceiling
        const label = (i.limits?.memoryBytes ? formatBytes(ceiling) : 'none').padStart(LIMIT_LABEL)
        return (
          <Text>
            <Text color={tone(meterTone(fraction))}>{meterBar(fraction, column.width - label.length - 1)}</Text>{' '}
            <Text dimColor>{label}</Text>
          </Text>
        )
      }
    }
    return cell('', column)
  }
  return (
    <PanelBox focused={focused} width={width} grow>
      <Text bold wrap="truncate-end">
        {columns.map((column, n) => (
          <Text key={column.id} dimColor={n > 0}>
            {n > 0 ? ' ' : ''}
            {n === 0
              ? fit(`Instances (${count})${sortMark(column, sort, sortReverse)}`, column.width)
              : cell(headerText(column, sort, sortReverse), column)}
          </Text>
        ))}
      </Text>
      {filter ? <Text dimColor>filter: {filter} (esc clears)</Text> : null}
      {rows.length === 0 && (
        <Text dimColor>
          {loading
            ? 'loading…'
            : total === 0
              ? 'no instances yet: `dbroker provision SERVICE` or `dbroker bind SERVICE`'
              : `nothing matches "${filter}" (esc clears)`}
        </Text>
      )}
      {shown.map((i, n) => (
        <Text key={i.id} inverse={focused && offset + n === selected} wrap="truncate-end">
          {columns.map((column, k) => (
            <Text key={column.id}>
              {k > 0 ? ' ' : ''}
              {render(i, column)}
            </Text>
          ))}
        </Text>
      ))}
      {rows.length > height && (
        <Text dimColor>
          rows {offset + 1}-{Math.min(rows.length, offset + height)} of {rows.length}
        </Text>
      )}
    </PanelBox>
  )
}
