import {Box, Text} from 'ink'

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

function Highlighted({line, search, timestamps}: {line: LogLine; search: string; timestamps: boolean}) {
  const tone = useTone()
  return (
    <>
      {timestamps && line.time ? <Text dimColor>{line.time.slice(0, 23)} </Text> : null}
      {splitMatches(line.text, search).map((part, i) =>
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

/** The window of lines ending at `bottom` that fits `height` rows (a wrapped line takes several). */
export function logWindow(
  lines: LogLine[],
  bottom: number,
  height: number,
  width: number,
  wrap: boolean,
  timestamps: boolean,
): LogLine[] {
  const shown: LogLine[] = []
  let rows = 0
  for (let i = Math.min(bottom, lines.length - 1); i >= 0 && rows < height; i--) {
    const length = lines[i].text.length + (timestamps && lines[i].time ? 24 : 0)
    const take = wrap ? Math.max(1, Math.ceil(length / Math.max(1, width))) : 1
    if (rows + take > height && shown.length > 0) break
    shown.unshift(lines[i])
    rows += take
  }
  return shown
}

export function LogsPanel({title, buffer, bottom, height, width, follow, wrap, timestamps, search}: LogsPanelProps) {
  const tone = useTone()
  const inner = width - 4
  const shown = logWindow(buffer.lines, bottom, height, inner, wrap, timestamps)
  const matches = search ? buffer.lines.filter((l) => l.text.toLowerCase().includes(search.toLowerCase())).length : 0
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold wrap="truncate-end">
        {fit(`Logs: ${title}`, 30)}
        <Text dimColor>
          {follow ? 'following' : 'paused'} · wrap {wrap ? 'on' : 'off'} · timestamps {timestamps ? 'on' : 'off'} ·{' '}
          {buffer.lines.length} lines
          {buffer.dropped ? ` (${buffer.dropped} older dropped)` : ''}
          {search ? ` · /${search}: ${matches} match${matches === 1 ? '' : 'es'}` : ''}
        </Text>
      </Text>
      {buffer.error && <Text color={tone('bad')}>{buffer.error}</Text>}
      {!buffer.error && buffer.lines.length === 0 && (
        <Text dimColor>{buffer.ended ? 'no output' : 'waiting for output…'}</Text>
      )}
      {shown.map((line, i) => (
        <Text key={bottom - shown.length + i} wrap={wrap ? 'wrap' : 'truncate-end'}>
          <Highlighted line={line} search={search} timestamps={timestamps} />
        </Text>
      ))}
    </Box>
  )
}
