// Over 300 lines on purpose: every key of the screen is one table here, so the whole keymap reads (and is tested)
// in one place; what the keys do beyond a line of it is in key-actions.ts.
import type {HostView, InstanceView} from '../../core/admin.js'
import {deployedTarget, type SortKey} from './model.js'
import {type PendingAction, type TopEvent, topReducer, type TopState} from './state.js'
import type {LogLine} from './use-log-buffer.js'
import {
  click,
  editKey,
  hostsHint,
  inContexts,
  inDetail,
  inEvents,
  inHost,
  inLogs,
  listRows,
  modal,
  move,
  nextMatch,
  noConnect,
  onHosts,
  onList,
  open,
  page,
  request,
  requestDrain,
  targetId,
} from './key-actions.js'

/** What the keys see of the data on screen, beside the state. */
export interface KeyEnv {
  instances: InstanceView[]
  hosts: HostView[]
  logLines: LogLine[]
  listHeight: number
  logHeight: number
  /** The events the events view lists (after its filter), and how many rows it shows. */
  events?: number
  eventsHeight?: number
  readonly: boolean
  /** Bindings of the instance the detail view shows (0 until it has loaded). */
  bindings?: number
  /** Terminal rows (1-based) of the first host and the first instance row drawn, for clicks. */
  layout?: {hostsTop: number; hostsShown: number; listTop: number}
  /** How many lines the help can scroll down at this terminal size (0: it fits). */
  helpScroll?: number
  /** The contexts `:` offers, and which of them this screen shows. */
  contexts?: {names: string[]; current: number}
}

/** What a key does outside the state. */
export type KeyEffect =
  | {effect: 'quit'}
  | {effect: 'perform'; action: PendingAction}
  /** Show the broker of this context instead. */
  | {effect: 'switch-context'; name: string}
  /** Leave the screen for the service's own client on this instance, and come back when it exits. */
  | {effect: 'connect'; instanceId: string}
  /** Read the contexts (one may have been added since the screen started) and offer them. */
  | {effect: 'list-contexts'}
  /** Copy the highlighted binding's URI of the open instance to the terminal's clipboard. */
  | {effect: 'copy'; instanceId: string; binding: number}
export type KeyOutcome = TopEvent | KeyEffect

/** One line of the key table: the first binding whose key matches and whose condition holds acts. */
export interface KeyBinding {
  /** Key names (`j`, `down`, `enter`, `esc`, `tab`, `pageup`, `ctrl-c`, `backspace`, ...); `*` is any key. */
  keys: string[]
  condition?: (state: TopState, env: KeyEnv) => boolean
  action: (state: TopState, env: KeyEnv, key: string) => KeyOutcome | KeyOutcome[] | undefined
  /**
   * The binding's line in the help (`?`), which is made from this table: the keys as the user reads them (this
   * binding's and those of the lines after it that the same help line covers) and what they do. `changes`: a key
   * --readonly turns off, which the help then says. `rank`: lines of a higher rank come after the others
   * (the mouse, quit), lines of one rank in the table's order.
   */
  help?: {keys: string; what: string; changes?: boolean; rank?: number}
}

/** Shift and a column's letter sorts by it, as in k9s; the same again reverses. */
export const SORT_BY_KEY: Record<string, SortKey> = {
  N: 'name',
  V: 'service',
  O: 'host',
  H: 'health',
  C: 'cpu',
  M: 'memory',
  R: 'restarts',
  A: 'uptime',
}

/** Every key of `dbroker top`, top to bottom: modal layers first, then the keys of the focused panel and view. */
export const KEY_TABLE: KeyBinding[] = [
  {keys: ['ctrl-c'], action: () => ({effect: 'quit'})},

  {
    keys: ['y'],
    condition: (s) => s.confirm !== null,
    action: (s) => [
      {type: 'confirm', action: null},
      {effect: 'perform', action: s.confirm!},
    ],
  },
  {
    keys: ['n', 'esc'],
    condition: (s) => s.confirm !== null,
    action: () => [
      {type: 'confirm', action: null},
      {type: 'say', message: 'cancelled'},
    ],
  },
  {keys: ['*'], condition: (s) => s.confirm !== null, action: () => undefined},
  {
    keys: ['j', 'down', 'wheel-down', 'pagedown'],
    condition: (s, e) => s.help && (e.helpScroll ?? 0) > 0,
    action: (_s, e, key) => ({type: 'scroll-help', delta: key === 'pagedown' ? 10 : 1, max: e.helpScroll ?? 0}),
  },
  {
    keys: ['k', 'up', 'wheel-up', 'pageup'],
    condition: (s, e) => s.help && (e.helpScroll ?? 0) > 0,
    action: (_s, e, key) => ({type: 'scroll-help', delta: key === 'pageup' ? -10 : -1, max: e.helpScroll ?? 0}),
  },
  {keys: ['*'], condition: (s) => s.help, action: () => ({type: 'help', open: false})},
  {keys: ['*'], condition: (s) => s.editing !== null, action: (_s, _e, key) => editKey(key)},

  {keys: ['q'], action: () => ({effect: 'quit'}), help: {keys: 'q, ctrl-c', what: 'quit', rank: 2}},
  {keys: ['?'], action: () => ({type: 'help', open: true})},
  {
    keys: ['click'],
    action: (s, e, key) => click(s, e, Number(key.slice('click:'.length))),
    help: {keys: 'mouse', what: 'click selects a row, wheel scrolls (--no-mouse: off)', rank: 1},
  },
  {keys: ['wheel-up'], action: (s, e) => move(s, e, -3)},
  {keys: ['wheel-down'], action: (s, e) => move(s, e, 3)},
  {
    keys: ['up', 'k'],
    action: (s, e) => move(s, e, -1),
    help: {keys: '↑↓ jk PgUp/Dn', what: 'move in a list; scroll the logs and the events'},
  },
  {keys: ['down', 'j'], action: (s, e) => move(s, e, 1)},
  {keys: ['pageup'], action: (s, e) => move(s, e, -page(s, e))},
  {keys: ['pagedown'], action: (s, e) => move(s, e, page(s, e))},

  {
    keys: [':'],
    condition: (s) => !inContexts(s),
    action: () => ({effect: 'list-contexts'}),
    help: {keys: ':', what: 'switch this screen to another context'},
  },
  {
    keys: ['enter'],
    condition: inContexts,
    action: (s, e) => {
      const name = e.contexts?.names[s.contextSelected]
      return name ? [{type: 'back'}, {effect: 'switch-context', name}] : undefined
    },
  },
  {keys: ['esc', 'backspace', 'left'], condition: inContexts, action: () => ({type: 'back'})},
  {keys: ['*'], condition: inContexts, action: () => undefined},

  {
    keys: ['tab'],
    condition: onList,
    action: () => ({type: 'toggle-focus'}),
    help: {keys: 'tab', what: 'switch between the hosts and instances panels'},
  },
  // The hosts panel's keys act on the highlighted host, never on the instance hidden behind it.
  {
    keys: ['enter'],
    condition: onHosts,
    action: (s, e) => (e.hosts[s.hostSelected] ? {type: 'open-host', host: e.hosts[s.hostSelected].id} : undefined),
    help: {keys: 'enter (i)', what: 'open the instance or host (in a host: its instances)'},
  },
  {
    keys: ['D'],
    condition: (s) => onHosts(s) || inHost(s),
    action: (s, e) => requestDrain(s, e),
    help: {keys: 'D', what: 'on a host: drain or undrain (asks first)', changes: true},
  },
  {
    keys: ['enter', 'i'],
    condition: inHost,
    action: (s) => (s.hostId ? {type: 'show-host', host: s.hostId} : undefined),
  },
  {keys: ['esc', 'backspace', 'left'], condition: inHost, action: () => ({type: 'back'})},
  {
    keys: ['/'],
    condition: inEvents,
    action: () => ({type: 'edit', mode: 'events'}),
    help: {keys: '/', what: 'filter the instances or the events; in the logs: search'},
  },
  {
    keys: ['g'],
    condition: inEvents,
    action: (s, e) => move(s, e, -Infinity),
    help: {keys: 'g G', what: 'first/last row, newest/oldest event, logs top/end'},
  },
  {keys: ['G'], condition: inEvents, action: (s, e) => move(s, e, Infinity)},
  {
    keys: ['esc'],
    condition: (s) => inEvents(s) && s.eventsFilter !== '',
    action: () => ({type: 'clear-events-filter'}),
  },
  {
    keys: ['esc', 'backspace', 'left', 'e'],
    condition: inEvents,
    action: () => ({type: 'back'}),
    help: {keys: 'esc', what: 'clear the filter or search, close a view'},
  },
  {
    keys: ['e'],
    condition: (s) => s.view === 'list' || inDetail(s),
    action: () => ({type: 'open-events'}),
    help: {keys: 'e', what: "the broker's change events, newest first"},
  },
  {keys: ['r'], condition: onHosts, action: () => hostsHint('restart')},
  {keys: ['d'], condition: onHosts, action: () => hostsHint('deprovision')},
  {keys: ['l'], condition: onHosts, action: () => hostsHint('logs')},

  {
    keys: ['x'],
    condition: (s) => s.view === 'list' || inDetail(s),
    action: (s, e) => {
      if (e.readonly) return {type: 'say', message: 'read-only: connect is disabled (it makes a binding)'}
      const id = targetId(s, e)
      const deployed = deployedTarget(id)
      if (deployed) return noConnect(deployed)
      return id ? {effect: 'connect', instanceId: id} : undefined
    },
    help: {keys: 'x', what: "the service's client, temporary binding", changes: true},
  },
  {
    keys: ['r'],
    action: (s, e) => request(s, e, 'restart'),
    help: {keys: 'r d', what: 'restart, deprovision the instance (asks first)', changes: true},
  },
  {
    keys: ['d'],
    action: (s, e) => request(s, e, 'deprovision'),
  },

  {keys: ['enter'], condition: onList, action: (s, e) => open(s, e, 'detail')},
  {
    keys: ['l'],
    condition: (s) => !inLogs(s),
    action: (s, e) => open(s, e, 'logs'),
    help: {keys: 'l (f w t)', what: 'logs (in them f follow/pause, w wrap, t timestamps)'},
  },
  {
    keys: ['s'],
    condition: onList,
    action: () => ({type: 'sort'}),
    help: {keys: 's', what: 'next sort: name service host health cpu mem rst age'},
  },
  ...Object.entries(SORT_BY_KEY).map(([key, sort], n): KeyBinding => ({
    keys: [key],
    condition: onList,
    action: () => ({type: 'sort-by', key: sort}),
    help:
      n === 0
        ? {keys: Object.keys(SORT_BY_KEY).join(' '), what: 'sort by that column; again reverses (▲▼)'}
        : undefined,
  })),
  {
    keys: ['g'],
    condition: onList,
    action: (s, e) => ({type: 'move-to', index: 0, ...listRows(s, e)}),
  },
  {
    keys: ['G'],
    condition: onList,
    action: (s, e) => ({type: 'move-to', index: Infinity, ...listRows(s, e)}),
  },
  {keys: ['/'], condition: onList, action: () => ({type: 'edit', mode: 'filter'})},
  {keys: ['esc'], condition: (s) => onList(s) && Boolean(s.filter || s.host), action: () => ({type: 'clear-filter'})},

  {
    keys: ['c'],
    condition: (s) => s.view === 'detail',
    action: (s, e) =>
      e.readonly
        ? {type: 'say', message: 'read-only: credentials stay hidden'}
        : deployedTarget(s.openId)
          ? {type: 'say', message: 'a deployed container has no bindings, so no credentials to show'}
          : {type: 'toggle', what: 'revealed'},
    help: {keys: 'c y', what: 'in a detail: show credentials, copy the URI (OSC 52)', changes: true},
  },
  {
    keys: ['y'],
    condition: inDetail,
    action: (s, e) =>
      e.readonly
        ? {type: 'say', message: 'read-only: credentials stay hidden'}
        : s.openId && (e.bindings ?? 0) > 0
          ? {effect: 'copy', instanceId: s.openId, binding: s.bindingSelected}
          : {type: 'say', message: 'no binding to copy'},
  },
  {keys: ['esc', 'backspace', 'left'], condition: (s) => s.view === 'detail', action: () => ({type: 'back'})},

  {
    keys: ['f'],
    condition: inLogs,
    action: (s, e) => ({type: 'follow', on: !s.follow, lines: e.logLines.length}),
  },
  {keys: ['w'], condition: inLogs, action: () => ({type: 'toggle', what: 'wrap'})},
  {keys: ['t'], condition: inLogs, action: () => ({type: 'toggle', what: 'timestamps'})},
  {
    keys: ['g'],
    condition: inLogs,
    action: (_s, e) => ({type: 'log-at', line: Math.min(e.logLines.length - 1, e.logHeight - 1)}),
  },
  {keys: ['G'], condition: inLogs, action: (_s, e) => ({type: 'follow', on: true, lines: e.logLines.length})},
  {
    keys: ['n'],
    condition: (s) => inLogs(s) && s.search !== '',
    action: (s, e) => nextMatch(s, e, -1),
    help: {keys: 'n N', what: 'logs: next/previous match (N elsewhere sorts by name)'},
  },
  {keys: ['N'], condition: (s) => inLogs(s) && s.search !== '', action: (s, e) => nextMatch(s, e, 1)},
  {keys: ['/'], condition: inLogs, action: () => ({type: 'edit', mode: 'search'})},
  {keys: ['esc'], condition: (s) => inLogs(s) && s.search !== '', action: () => ({type: 'clear-search'})},
  {keys: ['esc'], condition: inLogs, action: () => ({type: 'back'})},
]

/** The help's rows, from the table: a key and what it does (with --readonly, what it no longer does). */
export function helpRows(readonly: boolean, table: KeyBinding[] = KEY_TABLE): Array<[string, string]> {
  const rows = table.flatMap((b) => (b.help ? [b.help] : []))
  return rows
    .sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0))
    .map((h) => [h.keys, readonly && h.changes ? `${h.what} (disabled: read-only)` : h.what])
}

const isEffect = (outcome: KeyOutcome): outcome is KeyEffect => 'effect' in outcome

/** Presses one key: the state after it and what to do outside. */
export function pressKey(
  state: TopState,
  env: KeyEnv,
  key: string,
  table: KeyBinding[] = KEY_TABLE,
): {state: TopState; effects: KeyEffect[]} {
  // A click carries its row: the table binds `click`, the action reads the row from the key.
  const name = key.startsWith('click:') ? 'click' : key
  const binding = table.find(
    (b) => (b.keys.includes(name) || b.keys.includes('*')) && (b.condition?.(state, env) ?? true),
  )
  // Any key outside a dialog dismisses the last message.
  let next =
    state.message && !modal(state) && key !== 'ctrl-c' ? topReducer(state, {type: 'say', message: null}) : state
  const effects: KeyEffect[] = []
  const outcome = binding?.action(next, env, key)
  for (const item of outcome === undefined ? [] : Array.isArray(outcome) ? outcome : [outcome]) {
    if (isEffect(item)) effects.push(item)
    else next = topReducer(next, item)
  }
  return {state: next, effects}
}

/** Presses the keys one after the other, each seeing the state the one before left. */
export function pressKeys(state: TopState, env: KeyEnv, keys: string[]): {state: TopState; effects: KeyEffect[]} {
  const effects: KeyEffect[] = []
  for (const key of keys) {
    const result = pressKey(state, env, key)
    state = result.state
    effects.push(...result.effects)
    if (result.effects.some((e) => e.effect === 'quit')) break
  }
  return {state, effects}
}

export {visibleRows} from './key-actions.js'
export {keyNames} from './key-input.js'
