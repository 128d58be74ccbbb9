import {Box, Text} from 'ink'

import type {ChangeEvent} from '../../core/admin.js'
import {escapeControls} from '../../core/control-chars.js'
import {useTone} from './theme.js'

export interface EventsPanelProps {
  /** Newest first. */
  events: ChangeEvent[]
  filter: string
  width: number
  height: number
}

/** One line of an event, as the filter matches it and the panel shows it. */
export function eventLine(event: ChangeEvent): string {
  const time = new Date(event.at).toISOString().slice(11, 19)
  const on = event.instanceId && event.instanceId !== event.id ? ` of ${event.instanceId.slice(0, 8)}` : ''
  const state = event.state ? ` -> ${event.state}` : ''
  const description = event.description ? `: ${event.description}` : ''
  return escapeControls(`${time} ${event.kind} ${event.id.slice(0, 12)}${on} ${event.action}${state}${description}`)
}

const TONES: Record<string, 'good' | 'warn' | 'bad' | undefined> = {
  failed: 'bad',
  dead: 'bad',
  gone: 'warn',
  succeeded: 'good',
  ready: 'good',
  alive: 'good',
}

/** The broker's change stream as it arrived since the screen started, newest first. */
export function EventsPanel({events, filter, width, height}: EventsPanelProps) {
  const tone = useTone()
  const needle = filter.toLowerCase()
  const lines = events.map((e) => ({event: e, line: eventLine(e)}))
  const matching = needle ? lines.filter((l) => l.line.toLowerCase().includes(needle)) : lines
  const shown = matching.slice(0, Math.max(1, height - 3))
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold>
        Events ({matching.length === lines.length ? lines.length : `${matching.length}/${lines.length}`}){' '}
        <Text dimColor>newest first{filter ? ` · filter: ${filter}` : ''}</Text>
      </Text>
      {shown.length === 0 && (
        <Text dimColor>
          {lines.length === 0 ? 'no change since top started: events appear as they happen' : 'no event matches'}
        </Text>
      )}
      {shown.map(({event, line}, n) => (
        <Text key={`${event.at}-${event.id}-${n}`} wrap="truncate-end" color={tone(TONES[event.state ?? ''])}>
          {line}
        </Text>
      ))}
    </Box>
  )
}
