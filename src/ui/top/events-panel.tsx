import {Box, Text} from 'ink'

import type {ChangeEvent} from '../../core/admin.js'
import {eventLine, type NameOf} from '../../cli/event-line.js'
import {useTone} from './theme.js'

export interface EventsPanelProps {
  /** Newest first. */
  events: ChangeEvent[]
  filter: string
  /** Instance names by id: lines name instances, not ids. */
  nameOf?: NameOf
  width: number
  height: number
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
export function EventsPanel({events, filter, nameOf, width, height}: EventsPanelProps) {
  const tone = useTone()
  const needle = filter.toLowerCase()
  const lines = events.map((e) => ({event: e, line: eventLine(e, nameOf, 'time')}))
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
