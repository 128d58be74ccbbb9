import {Box, Text} from 'ink'

import {hardWrap} from './log-text.js'
import {fit, splitMatches} from './model.js'
import {useTone} from './theme.js'
import type {LogBuffer, LogLine} from './use-log-buffer.js'

export interface LogsPanelProps {
  title: string
  buffer: LogBuffer
  /** Index of the last line shown (follow keeps it at the end). */
  bottom: number
  height: number
  width: number
  follow: boolean
  wrap: boolean
  timestamps: boolean
  search: string
}

function Highlighted({text, search}: {text: string; search: string}) {
  const tone = useTone()
  return (
    <>
      {splitMatches(text, search).map((part, i) =>
        part.match ? (
          <Text key={i} inverse color={tone('warn')}>
            {part.text}
          </Text>
        ) : (
          <Text key={i}>{part.text}</Text>
        ),
      )}
    </>
  )
}

/** One screen row of the log view: a whole line, or one piece of a wrapped one. */
export interface LogRow {
  key: string
  /** The timestamp, on a line's first row only. */
  time: string | null
  text: string
}

const STAMP_COLUMNS = 24

/** The rows ending with line `bottom` that fill at most `height` rows of `width` columns; a wrapped line is cut by column, so the count is exact. */
export function logRows(
  lines: LogLine[],
  bottom: number,
  height: number,
  width: number,
  wrap: boolean,
  timestamps: boolean,
): LogRow[] {
  const rows: LogRow[] = []
  const cols = Math.max(1, width)
  for (let i = Math.min(bottom, lines.length - 1); i >= 0 && rows.length < height; i--) {
    const stamp = timestamps && lines[i].time ? lines[i].time!.slice(0, 23) : null
    const lead = stamp && cols > STAMP_COLUMNS ? STAMP_COLUMNS : 0
    const pieces = wrap ? hardWrap(lines[i].text, cols - lead) : [lines[i].text]
    const line = pieces.map((text, n) => ({
      key: `${i}.${n}`,
      time: n === 0 ? stamp : null,
      text: n > 0 && lead ? ' '.repeat(lead) + text : text,
    }))
    // The newest rows of a line too long for the window: its end is what was just written.
    rows.unshift(...line.slice(Math.max(0, line.length - (height - rows.length))))
  }
  return rows
}

export function LogsPanel({title, buffer, bottom, height, width, follow, wrap, timestamps, search}: LogsPanelProps) {
  const tone = useTone()
  const inner = width - 4
  const notice = buffer.error || buffer.interrupted || buffer.lines.length === 0 ? 1 : 0
  const shown = logRows(buffer.lines, bottom, Math.max(1, height - notice), inner, wrap, timestamps)
  const matches = search ? buffer.lines.filter((l) => l.text.toLowerCase().includes(search.toLowerCase())).length : 0
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold wrap="truncate-end">
        {fit(`Logs: ${title}`, search ? Math.min(30, title.length + 7) : 30)}
        {/* The search first: at 80 columns the line is cut at its end, and the search is what changes what n/N do. */}
        {search ? (
          <Text color={tone('warn')}>
            /{search}: {matches} match{matches === 1 ? '' : 'es'} (n/N){' · '}
          </Text>
        ) : null}
        <Text dimColor>
          {buffer.interrupted ? 'stream ended · reconnecting' : follow ? 'following' : 'paused'} · wrap{' '}
          {wrap ? 'on' : 'off'} · timestamps {timestamps ? 'on' : 'off'} · {buffer.lines.length} lines
          {buffer.dropped ? ` (${buffer.dropped} older dropped)` : ''}
        </Text>
      </Text>
      {buffer.error && <Text color={tone('bad')}>{buffer.error}</Text>}
      {!buffer.error && buffer.interrupted && (
        <Text color={tone('warn')} wrap="truncate-end">
          {buffer.interrupted}; reconnecting…
        </Text>
      )}
      {!buffer.error && buffer.lines.length === 0 && (
        <Text dimColor>{buffer.ended ? 'no output' : 'waiting for output…'}</Text>
      )}
      {shown.map((row) => (
        <Text key={row.key} wrap="truncate-end">
          {row.time ? <Text dimColor>{row.time} </Text> : null}
          <Highlighted text={row.text} search={search} />
        </Text>
      ))}
    </Box>
  )
}
