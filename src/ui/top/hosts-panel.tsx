import {Text} from 'ink'

import type {HostView} from '../../core/admin.js'
import {formatBytes, formatDuration, hostState} from '../../core/format.js'
import {fit} from './model.js'
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
}

export function HostsPanel({hosts, loading = false, focused, selected, height, width}: HostsPanelProps) {
  const tone = useTone()
  const offset = Math.max(0, Math.min(selected - height + 1, hosts.length - height))
  const shown = hosts.slice(Math.max(0, offset), Math.max(0, offset) + height)
  return (
    <PanelBox focused={focused} width={width}>
      <Text bold>
        {fit(`Hosts (${hosts.length})`, 14)}
        <Text dimColor>
          {fit('STATUS', 17)} {fit('BEAT', 6)} {fit('ENGINE', 16)} {fit('CONT', 5)} {fit('CPUS', 5)} {fit('MEMORY', 7)}{' '}
          {fit('LOGGING', 10)} MIRRORS
        </Text>
      </Text>
      {shown.length === 0 && <Text dimColor>{loading ? 'loading…' : 'no hosts registered'}</Text>}
      {shown.map((h, i) => {
        const index = offset + i
        const facts = h.facts
        return (
          <Text key={h.id} inverse={focused && index === selected} wrap="truncate-end">
            {fit(h.id, 14)}
            <Text color={tone(h.status === 'alive' ? 'good' : 'bad')}>{fit(hostState(h), 17)}</Text>{' '}
            {fit(`${formatDuration(h.heartbeatAgeMs)}`, 6)} {fit(facts?.engineVersion ?? '-', 16)}{' '}
            {fit(String(facts?.containersRunning ?? '-'), 5)} {fit(String(facts?.cpus ?? '-'), 5)}{' '}
            {fit(formatBytes(facts?.memoryBytes), 7)} {fit(facts?.loggingDriver ?? '-', 10)}{' '}
            {facts?.registryMirrors.join(',') || '-'}
            {facts?.insecureRegistries.length ? (
              <Text dimColor> insecure:{facts.insecureRegistries.join(',')}</Text>
            ) : null}
          </Text>
        )
      })}
    </PanelBox>
  )
}
