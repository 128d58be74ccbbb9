import {Text} from 'ink'

import type {InstanceView} from '../../core/admin.js'
import {endpoint, formatBytes, formatPercent, instanceHealth, instanceTone, uptime} from '../../core/format.js'
import {fit, type SortKey, sparkline} from './model.js'
import {PanelBox} from './chrome.js'
import {useTone} from './theme.js'

export interface InstancesPanelProps {
  /** Already filtered and sorted. */
  rows: InstanceView[]
  total: number
  /** No answer from the broker yet. */
  loading?: boolean
  cpuHistory: ReadonlyMap<string, number[]>
  selected: number
  /** First row drawn: only `height` rows from here are rendered. */
  offset: number
  height: number
  width: number
  focused: boolean
  sort: SortKey
  filter: string
  /** The broker stopped answering: health is the last seen, shown as such. */
  stale?: boolean
  now?: number
}

const SPARK = 12

export function InstancesPanel({
  rows,
  total,
  loading = false,
  cpuHistory,
  selected,
  offset,
  height,
  width,
  focused,
  sort,
  filter,
  stale = false,
  now = Date.now(),
}: InstancesPanelProps) {
  const tone = useTone()
  const shown = rows.slice(offset, offset + height)
  const title = `Instances (${rows.length === total ? total : `${rows.length}/${total}`})`
  return (
    <PanelBox focused={focused} width={width} grow>
      <Text bold wrap="truncate-end">
        {fit(title, 20)}
        <Text dimColor>
          {fit('SERVICE', 18)} {fit('HEALTH', 10)} {fit('ENDPOINT', 22)} {fit('RST', 4)} {fit('UP', 5)} {fit('CPU', 6)}{' '}
          {fit('CPU HISTORY', SPARK)} {fit('MEM', 6)}
        </Text>
        <Text dimColor>
          {'  '}sort:{sort}
          {filter ? ` filter:${filter}` : ''}
        </Text>
      </Text>
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
          {fit(i.name ?? i.id, 20)}
          {fit(`${i.service}/${i.plan}`, 18)}{' '}
          {stale ? (
            <Text color={tone('muted')}>{fit(`${instanceHealth(i)}?`, 10)}</Text>
          ) : (
            <Text color={tone(instanceTone(i))}>{fit(instanceHealth(i), 10)}</Text>
          )}{' '}
          {fit(endpoint(i), 22)} {fit(String(i.container?.restartCount ?? '-'), 4)} {fit(uptime(i, now), 5)}{' '}
          {fit(formatPercent(i.stats?.cpuPercent), 6)}{' '}
          <Text color={tone('good')}>{sparkline(cpuHistory.get(i.id) ?? [], SPARK)}</Text>{' '}
          {fit(formatBytes(i.stats?.memoryBytes), 6)}
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
