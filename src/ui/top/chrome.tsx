// Over 300 lines: the screen's chrome in one place (header, footer keys, help overlay, dialogs), each small.
import {Box, Text} from 'ink'

import {escapeControls} from '../../core/control-chars.js'

import {helpRows} from './keys.js'
import type {View} from './state.js'
import {useTone} from './theme.js'

/** What the footer offers: per view, for the hosts panel when it has the keys, and in a deployed container's detail. */
export type FooterKeys = View | 'hosts' | 'deployed'

const KEYS: Record<FooterKeys, Array<[string, string]>> = {
  list: [
    ['↑↓/jk', 'move'],
    ['enter', 'detail'],
    ['tab', 'panel'],
    ['/', 'filter'],
    ['s', 'sort'],
    ['l', 'logs'],
    ['x', 'connect'],
    ['r', 'restart'],
    ['d', 'deprovision'],
    ['e', 'events'],
    [':', 'context'],
    ['N/C/M…', 'sort by'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  hosts: [
    ['↑↓/jk', 'move'],
    ['enter', 'host detail'],
    ['D', 'drain/undrain'],
    ['tab', 'instances panel'],
    ['e', 'events'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  host: [
    ['enter', 'its instances'],
    ['D', 'drain/undrain'],
    ['esc', 'back'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  contexts: [
    ['↑↓/jk', 'move'],
    ['enter', 'switch'],
    ['esc', 'back'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  events: [
    ['↑↓/jk', 'scroll'],
    ['g/G', 'newest/oldest'],
    ['/', 'filter'],
    ['esc', 'back'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  detail: [
    ['↑↓', 'binding'],
    ['y', 'copy URI'],
    ['x', 'connect'],
    ['c', 'credentials'],
    ['l', 'logs'],
    ['r', 'restart'],
    ['d', 'deprovision'],
    ['esc', 'back'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  // A manifest's container: no bindings to pick, copy or connect with, and only its deployment is deleted.
  deployed: [
    ['l', 'logs'],
    ['r', 'restart'],
    ['e', 'events'],
    ['esc', 'back'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
  logs: [
    ['f', 'follow/pause'],
    ['w', 'wrap'],
    ['t', 'timestamps'],
    ['/', 'search'],
    ['n/N', 'prev/next match'],
    ['↑↓', 'scroll'],
    ['g/G', 'top/end'],
    ['esc', 'back'],
    ['?', 'help'],
    ['q', 'quit'],
  ],
}

/** Keys --readonly turns off: the changes, and revealing or copying credentials. */
const ACTIONS = new Set(['r', 'd', 'c', 'D', 'y', 'x'])

/** Keys the footer never drops, however narrow the terminal. */
const PINNED = new Set(['?', 'q'])

/** The footer's keys that fit in `width`: the view's keys in order while they fit, then always help and quit. */
export function footerKeys(view: FooterKeys, readonly: boolean, width: number): Array<[string, string]> {
  const all = KEYS[view].filter(([key]) => !(readonly && ACTIONS.has(key)))
  const length = (keys: Array<[string, string]>) =>
    keys.reduce((sum, [key, what]) => sum + key.length + what.length + 3, 0)
  const pinned = all.filter(([key]) => PINNED.has(key))
  let room = width - length(pinned) - (readonly ? 'read-only'.length : 0)
  const shown = new Set<string>()
  for (const item of all) {
    if (PINNED.has(item[0])) continue
    if (length([item]) > room) break
    shown.add(item[0])
    room -= length([item])
  }
  return all.filter(([key]) => PINNED.has(key) || shown.has(key))
}

export function Footer({
  view,
  readonly,
  message,
  width = 200,
}: {
  view: FooterKeys
  readonly: boolean
  message: string | null
  width?: number
}) {
  const tone = useTone()
  const keys = footerKeys(view, readonly, width)
  return (
    <Box flexDirection="column">
      {message && (
        <Text color={tone('warn')} wrap="truncate-end">
          {message}
        </Text>
      )}
      <Text wrap="truncate-end">
        {keys.map(([key, what]) => (
          <Text key={key}>
            <Text bold>{key}</Text> <Text dimColor>{what}</Text>
            {'  '}
          </Text>
        ))}
        {readonly && <Text color={tone('warn')}>read-only</Text>}
      </Text>
    </Box>
  )
}

export interface HeaderProps {
  target: string
  /** No answer from the broker yet: counts would read as an empty broker. */
  loading: boolean
  live: boolean
  /** The event stream has not opened yet (nor failed): the first frame's rows came without it. */
  connecting?: boolean
  /** The broker stopped answering: the rows are the last seen. */
  stale?: boolean
  hosts: number
  instances: number
  error: string | null
  width?: number
  /** The sort (`service▲`) when its column is not on screen at this width, so nothing else shows it. */
  sort?: string
}

const TITLE = 'dbroker top '

/** How the event stream stands: live, still opening, or lost and being reopened. */
const streamWord = (props: Pick<HeaderProps, 'live' | 'connecting'>) =>
  props.live ? 'live' : props.connecting ? 'connecting' : 'reconnecting'
const STALE_LONG = ' · STALE: rows show the last state seen'
const STALE_SHORT = ' · STALE'

/**
 * The header's parts at `width`: the target (context and URL) gives way first, then the
 * STALE marker's explanation, so the counts, the connection and STALE itself always show
 * (and the start of the error, when there is one).
 */
export function headerParts(props: HeaderProps): {target: string; status: string; stale: string; sort: string} {
  const {width = 200, loading, hosts, instances, stale = false} = props
  const sort = props.sort && !loading ? ` · sort: ${props.sort}` : ''
  const status = loading
    ? 'loading…'
    : `${hosts} host${hosts === 1 ? '' : 's'} · ${instances} instance${instances === 1 ? '' : 's'} · ${streamWord(props)}`
  const errorRoom = props.error ? Math.min(props.error.length + ' · '.length, 24) : 0
  const room = (marker: string) =>
    width - TITLE.length - ' · '.length - status.length - marker.length - sort.length - errorRoom
  // The error after them gets some room too: what is cut at the end of the line is the error's tail, not STALE.
  const target = escapeControls(props.target)
  let marker = stale ? STALE_LONG : ''
  if (stale && room(marker) < Math.min(target.length, 16)) marker = STALE_SHORT
  const left = room(marker)
  const shown = target.length <= left ? target : left > 1 ? `${target.slice(0, left - 1)}…` : ''
  return {target: shown, status, stale: marker, sort}
}

export function Header(props: HeaderProps) {
  const tone = useTone()
  const {target, status, stale, sort} = headerParts(props)
  return (
    <Text wrap="truncate-end">
      <Text bold>dbroker top</Text> <Text dimColor>{target}</Text>
      {target ? ' · ' : ''}
      {props.loading ? (
        <Text color={tone('warn')}>{status}</Text>
      ) : (
        <>
          {status.replace(/(live|connecting|reconnecting)$/, '')}
          <Text color={tone(props.live ? 'good' : props.connecting ? undefined : 'warn')}>{streamWord(props)}</Text>
          {stale ? <Text color={tone('warn')}>{stale}</Text> : null}
          {sort}
        </>
      )}
      {props.error ? <Text color={tone('bad')}> · {props.error}</Text> : null}
    </Text>
  )
}

/** Breaks `text` at spaces into lines of at most `width` (a longer word is cut). */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = ''
    }
    line = line ? `${line} ${word}` : word
    while (line.length > width) {
      lines.push(line.slice(0, width))
      line = line.slice(width)
    }
  }
  return [...lines, line]
}

const KEY_COLUMN = 18
/** The double border, its padding, the title and the closing line. */
const HELP_CHROME = {columns: 6, rows: 4}

/** The help as the lines it takes at `width`: each key once, its description wrapped in its own column. */
export function helpLines(readonly: boolean, width: number): Array<{key: string; text: string}> {
  const room = Math.max(10, width - HELP_CHROME.columns - KEY_COLUMN)
  return helpRows(readonly).flatMap(([key, what]) =>
    wrapWords(what, room).map((text, n) => ({key: n === 0 ? key : '', text})),
  )
}

/** How many help lines fit in `height` rows, and how far the help can scroll. */
export function helpWindow(readonly: boolean, width: number, height: number): {shown: number; maxOffset: number} {
  const total = helpLines(readonly, width).length
  const shown = Math.max(1, Math.min(total, height - HELP_CHROME.rows))
  return {shown, maxOffset: total - shown}
}

/** The keys, in `height` rows: when they don't all fit, j/k scroll them. */
export function HelpOverlay({
  readonly,
  width = 200,
  height = 100,
  offset = 0,
}: {
  readonly: boolean
  width?: number
  height?: number
  offset?: number
}) {
  const lines = helpLines(readonly, width)
  const {shown, maxOffset} = helpWindow(readonly, width, height)
  const from = Math.min(offset, maxOffset)
  return (
    <Box flexDirection="column" borderStyle="double" paddingX={2} width={width}>
      <Text bold>Keys</Text>
      {lines.slice(from, from + shown).map(({key, text}, n) => (
        <Text key={from + n} wrap="truncate-end">
          <Text bold>{key.padEnd(KEY_COLUMN)}</Text>
          {text}
        </Text>
      ))}
      <Text dimColor wrap="truncate-end">
        {maxOffset > 0
          ? `lines ${from + 1}-${from + shown} of ${lines.length} · j/k scroll · any other key closes this help`
          : 'any key closes this help'}
      </Text>
    </Box>
  )
}

export function ConfirmDialog({question}: {question: string}) {
  const tone = useTone()
  return (
    <Box borderStyle="double" borderColor={tone('bad')} paddingX={2} flexDirection="column">
      <Text bold>{question}</Text>
      <Text>
        <Text bold>y</Text> yes · <Text bold>n</Text>/esc no
      </Text>
    </Box>
  )
}

/** The rounded frame of a list panel, green while it has the keys. */
export function PanelBox({
  focused,
  width,
  grow = false,
  children,
}: {
  focused: boolean
  width: number
  grow?: boolean
  children: React.ReactNode
}) {
  const tone = useTone()
  return (
    <Box
      flexDirection="column"
      borderStyle="round"
      borderColor={focused ? tone('good') : undefined}
      paddingX={1}
      width={width}
      flexGrow={grow ? 1 : 0}
    >
      {children}
    </Box>
  )
}
