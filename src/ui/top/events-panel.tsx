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
  /** The first matching event shown (0: the newest): where j/k/PgDn/G scrolled to. */
  first?: number
}

/** The rows the events panel shows below its title in `height` terminal rows. */
export const eventRows = (height: number) => Math.max(1, height - 3)

/** The events as the panel's lines, and those the filter keeps. */
export function matchingEvents(events: ChangeEvent[], filter: string, nameOf?: NameOf) {
  const needle = filter.toLowerCase()
  const lines = events.map((e) => ({event: e, line: eventLine(e, nameOf, 'time')}))
  return {lines, matching: needle ? lines.filter((l) => l.line.toLowerCase().includes(needle)) : lines}
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
export function EventsPanel({events, filter, nameOf, width, height, first = 0}: EventsPanelProps) {
  const tone = useTone()
  const {lines, matching} = matchingEvents(events, filter, nameOf)
  const rows = eventRows(height)
  const from = Math.max(0, Math.min(first, matching.length - rows))
  const shown = matching.slice(from, from + rows)
  // Where the rows are, once there are more than fit: the newest are at the top, g goes back to them.
  const where = matching.length > rows ? ` · ${from + 1}-${from + shown.length} of ${matching.length}` : ''
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold>
        Events ({matching.length === lines.length ? lines.length : `${matching.length}/${lines.length}`}){' '}
        <Text dimColor>
          newest first{where}
          {filter ? ` · filter: ${filter}` : ''}
        </Text>
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
