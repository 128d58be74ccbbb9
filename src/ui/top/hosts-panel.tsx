import {Text} from 'ink'
import {useEffect, useState} from 'react'

import type {HostView} from '../../core/admin.js'
import {formatBytes, formatDuration, hostState} from '../../core/format.js'
import {type Column, layoutColumns, type PlacedColumn, cellText as cell} from './columns.js'
import {innerWidth} from './instances-panel.js'
import {beatAge, fit} from './model.js'
import {PanelBox} from './chrome.js'
import {useTone} from './theme.js'

export interface HostsPanelProps {
  hosts: HostView[]
  /** No answer from the broker yet. */
  loading?: boolean
  focused: boolean
  selected: number
  /** Rows available for hosts (the panel scrolls beyond). */
  height: number
  width: number
  /** The broker stopped answering: states are the last seen (`alive?`), beat ages count on from the last beat. */
  stale?: boolean
  beatsAt?: ReadonlyMap<string, number>
}

/** The time, once a second while `on` (a stale screen's ages keep counting); nothing re-renders otherwise. */
export function useClock(on: boolean): number {
  const [now, setNow] = useState(Date.now)
  useEffect(() => {
    if (!on) return
    setNow(Date.now())
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [on])
  return now
}

/** At 80 columns the host, its state, heartbeat, containers, CPUs, memory and engine stay; logging and mirrors go first. */
export const HOST_COLUMNS: Column[] = [
  {id: 'id', header: 'Hosts', width: 14, growTo: 20, priority: 0},
  {id: 'status', header: 'STATUS', width: 17, priority: 0},
  {id: 'beat', header: 'BEAT', width: 6, priority: 0},
  {id: 'engine', header: 'ENGINE', width: 16, priority: 3},
  {id: 'containers', header: 'CONT', width: 5, priority: 1, align: 'right'},
  {id: 'cpus', header: 'CPUS', width: 5, priority: 2, align: 'right'},
  {id: 'memory', header: 'MEMORY', width: 7, priority: 2, align: 'right'},
  {id: 'logging', header: 'LOGGING', width: 10, priority: 4},
  {id: 'mirrors', header: 'MIRRORS', width: 12, growTo: 60, priority: 5},
]

function mirrors(host: HostView): string {
  const facts = host.facts
  if (!facts) return '-'
  const insecure = facts.insecureRegistries.length ? ` insecure:${facts.insecureRegistries.join(',')}` : ''
  return `${facts.registryMirrors.join(',') || '-'}${insecure}`
}

export function HostsPanel({
  hosts,
  loading = false,
  focused,
  selected,
  height,
  width,
  stale = false,
  beatsAt,
}: HostsPanelProps) {
  const tone = useTone()
  const now = useClock(stale)
  const offset = Math.max(0, Math.min(selected - height + 1, hosts.length - height))
  const shown = hosts.slice(Math.max(0, offset), Math.max(0, offset) + height)
  const columns = layoutColumns(HOST_COLUMNS, innerWidth(width))
  const render = (h: HostView, column: PlacedColumn) => {
    const facts = h.facts
    switch (column.id) {
      case 'id':
        return cell(h.id, column)
      case 'status':
        // Stale: the last state seen, marked as instance health is, since nothing says it still holds.
        return (
          <Text color={tone(stale ? 'muted' : h.status === 'alive' ? 'good' : 'bad')}>
            {cell(`${hostState(h)}${stale ? '?' : ''}${h.drained ? ' · drained' : ''}`, column)}
          </Text>
        )
      case 'beat':
        return cell(formatDuration(beatAge(h, stale, beatsAt, now)), column)
      case 'engine':
        return cell(facts?.engineVersion ?? '-', column)
      case 'containers':
        return cell(String(facts?.containersRunning ?? '-'), column)
      case 'cpus':
        return cell(String(facts?.cpus ?? '-'), column)
      case 'memory':
        return cell(formatBytes(facts?.memoryBytes), column)
      case 'logging':
        return cell(facts?.loggingDriver ?? '-', column)
      case 'mirrors':
        return cell(mirrors(h), column)
    }
    return cell('', column)
  }
  return (
    <PanelBox focused={focused} width={width}>
      <Text bold wrap="truncate-end">
        {columns.map((column, n) => (
          <Text key={column.id} dimColor={n > 0}>
            {n > 0 ? ' ' : ''}
            {n === 0 ? fit(`Hosts (${hosts.length})`, column.width) : cell(column.header, column)}
          </Text>
        ))}
      </Text>
      {shown.length === 0 && <Text dimColor>{loading ? 'loading…' : 'no hosts registered'}</Text>}
      {shown.map((h, i) => (
        <Text key={h.id} inverse={focused && offset + i === selected} wrap="truncate-end">
          {columns.map((column, k) => (
            <Text key={column.id}>
              {k > 0 ? ' ' : ''}
              {render(h, column)}
            </Text>
          ))}
        </Text>
      ))}
    </PanelBox>
  )
}
