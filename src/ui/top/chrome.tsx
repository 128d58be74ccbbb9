import {Box, Text} from 'ink'

import type {View} from './state.js'
import {useTone} from './theme.js'

/** What the footer offers: per view, and for the hosts panel when it has the keys. */
export type FooterKeys = View | 'hosts'

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
  logs: [
    ['f', 'follow/pause'],
    ['w', 'wrap'],
    ['t', 'timestamps'],
    ['/', 'search'],
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
  /** The broker stopped answering: the rows are the last seen. */
  stale?: boolean
  hosts: number
  instances: number
  error: string | null
}

export function Header({target, loading, live, stale = false, hosts, instances, error}: HeaderProps) {
  const tone = useTone()
  return (
    <Text wrap="truncate-end">
      <Text bold>dbroker top</Text> <Text dimColor>{target}</Text> ·{' '}
      {loading ? (
        <Text color={tone('warn')}>loading…</Text>
      ) : (
        <>
          {hosts} host{hosts === 1 ? '' : 's'} · {instances} instance{instances === 1 ? '' : 's'} ·{' '}
          <Text color={tone(live ? 'good' : 'warn')}>{live ? 'live' : 'reconnecting'}</Text>
          {stale ? <Text color={tone('warn')}> · STALE: rows show the last state seen</Text> : null}
        </>
      )}
      {error ? <Text color={tone('bad')}> · {error}</Text> : null}
    </Text>
  )
}

export function HelpOverlay({readonly}: {readonly: boolean}) {
  const rows: Array<[string, string]> = [
    ['↑↓ jk PgUp PgDn gG', 'move in the list or scroll the logs'],
    ['enter', 'open the selected instance or host (in a host: its instances)'],
    ['tab', 'switch between hosts and instances'],
    ['/', 'filter instances (in logs: search and highlight)'],
    ['esc', 'clear the filter, close a view'],
    ['s', 'cycle the sort: name, service, host, health, cpu, memory, restarts, uptime'],
    [
      'N V O H C M R A',
      'sort by name, service, host, health, cpu, memory, restarts, age; again reverses (▲▼ in the header)',
    ],
    ['l', 'logs of the selected instance (f follow/pause, w wrap, t timestamps)'],
    [
      'x',
      readonly
        ? 'connect (disabled: read-only)'
        : "the service's own client (redis-cli, psql) with a temporary binding; back here when it exits",
    ],
    ['e', "the broker's change events, newest first (/ filters)"],
    [':', 'switch to another context (its broker; the current context stays as it is)'],
    ['D', readonly ? 'drain a host (disabled: read-only)' : 'on a host: drain or undrain it (asks first)'],
    [
      'y',
      readonly ? 'copy a URI (disabled: read-only)' : "in the detail view: copy the highlighted binding's URI (OSC 52)",
    ],
    ['c', readonly ? 'reveal credentials (disabled: read-only)' : 'in the detail view: reveal binding credentials'],
    ['r', readonly ? 'restart (disabled: read-only)' : 'restart the container (asks first)'],
    ['d', readonly ? 'deprovision (disabled: read-only)' : 'deprovision the instance (asks first)'],
    ['q, ctrl-c', 'quit'],
  ]
  // Two columns: a description wraps inside its own column instead of under the keys.
  return (
    <Box flexDirection="column" borderStyle="double" paddingX={2}>
      <Text bold>Keys</Text>
      {rows.map(([key, what]) => (
        <Box key={key}>
          <Box width={KEY_COLUMN} flexShrink={0}>
            <Text bold>{key}</Text>
          </Box>
          <Box flexGrow={1}>
            <Text>{what}</Text>
          </Box>
        </Box>
      ))}
      <Text dimColor>any key closes this help</Text>
    </Box>
  )
}

const KEY_COLUMN = 20

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
