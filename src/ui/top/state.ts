import {nextSort, scrollOffset, type SortKey} from './model.js'

export type View = 'list' | 'detail' | 'logs' | 'host' | 'events' | 'contexts'
export type Panel = 'hosts' | 'instances'

/** A change the user asked for, waiting for y in the confirmation. */
export interface PendingAction {
  /** restart and deprovision act on an instance, drain and undrain on a host. */
  kind: 'restart' | 'deprovision' | 'drain' | 'undrain'
  id: string
  label: string
  /** A restart of a shared or adopted container: who else it interrupts, said in the question; it is sent forced. */
  sharedWith?: string
}

/** Everything `dbroker top` remembers between keys; the data it shows comes from the broker, not from here. */
export interface TopState {
  view: View
  focus: Panel
  /** Row of the instances list, and the first row drawn. */
  selected: number
  offset: number
  /**
   * The instance on the selected row: as the list changes under it (new rows, a new sort, the data coming back
   * after `x`), the selection stays on this instance, not on the row number.
   */
  selectedId: string | null
  hostSelected: number
  filter: string
  /** Only the instances of this host (enter on a host). */
  host: string | null
  editing: null | 'filter' | 'search' | 'events'
  draft: string
  sort: SortKey
  /** The sort runs against its natural order (a second press on the same column). */
  sortReverse: boolean
  help: boolean
  /** First help line shown, where the help is taller than the terminal. */
  helpOffset: number
  confirm: PendingAction | null
  message: string | null
  /** The instance the detail and logs views show. */
  openId: string | null
  /** The host the host view shows. */
  hostId: string | null
  /** The highlighted binding in the detail view: what y copies. */
  bindingSelected: number
  /** What the events view keeps: events whose line contains it. */
  eventsFilter: string
  /**
   * Where the events view is scrolled to: null at the newest (new events show as they come), else the first row
   * shown counted from the oldest event, so events arriving on top do not move the rows being read.
   */
  eventsScroll: number | null
  /** The highlighted row of the context list (`:`). */
  contextSelected: number
  /** Where esc in the context list goes back to. */
  contextsFrom: View
  revealed: boolean
  /** Where esc in the logs goes back to. */
  logsFrom: 'list' | 'detail'
  follow: boolean
  wrap: boolean
  timestamps: boolean
  search: string
  /** Last log line shown while not following. */
  logBottom: number
}

export const initialTopState: TopState = {
  view: 'list',
  focus: 'instances',
  selected: 0,
  offset: 0,
  selectedId: null,
  hostSelected: 0,
  filter: '',
  host: null,
  editing: null,
  draft: '',
  sort: 'name',
  sortReverse: false,
  help: false,
  helpOffset: 0,
  confirm: null,
  message: null,
  openId: null,
  hostId: null,
  bindingSelected: 0,
  eventsFilter: '',
  eventsScroll: null,
  contextSelected: 0,
  contextsFrom: 'list',
  revealed: false,
  logsFrom: 'list',
  follow: true,
  wrap: false,
  timestamps: false,
  search: '',
  logBottom: 0,
}

/** The instances list as the keys see it: its rows' instance ids, top to bottom (`rows`: how many). */
interface ListRows {
  rows: number
  ids?: string[]
  height: number
}

export type TopEvent =
  | ({type: 'move'; delta: number} & ListRows)
  | ({type: 'move-to'; index: number} & ListRows)
  /** The list or the window changed: keep the selection on its instance (or a row), and in view. */
  | ({type: 'fit'} & ListRows)
  | {type: 'move-host'; delta: number; hosts: number}
  | {type: 'scroll-logs'; delta: number; lines: number}
  | {type: 'log-at'; line: number}
  /** Scroll the events view by `delta` rows (Infinity: to the oldest), of `count` events with `height` rows shown. */
  | {type: 'scroll-events'; delta: number; count: number; height: number}
  | {type: 'follow'; on: boolean; lines: number}
  | {type: 'toggle-focus'}
  | {type: 'show-host'; host: string}
  | {type: 'open'; view: 'detail' | 'logs'; id: string}
  | {type: 'open-host'; host: string}
  | {type: 'open-events'}
  | {type: 'open-contexts'; current: number}
  | {type: 'move-context'; delta: number; contexts: number}
  | {type: 'move-binding'; delta: number; bindings: number}
  | {type: 'back'}
  | {type: 'sort'}
  /** Sort by this column; the same column again reverses it. */
  | {type: 'sort-by'; key: SortKey}
  | {type: 'edit'; mode: 'filter' | 'search' | 'events'}
  | {type: 'edit-text'; text: string}
  | {type: 'edit-backspace'}
  | {type: 'edit-end'; cancel: boolean}
  | {type: 'clear-filter'}
  | {type: 'clear-search'}
  | {type: 'clear-events-filter'}
  | {type: 'help'; open: boolean}
  | {type: 'scroll-help'; delta: number; max: number}
  | {type: 'confirm'; action: PendingAction | null}
  | {type: 'say'; message: string | null}
  | {type: 'toggle'; what: 'revealed' | 'wrap' | 'timestamps'}
  | {type: 'gone'; id: string}

const clamp = (value: number, max: number) => Math.max(0, Math.min(max, value))

function select(state: TopState, index: number, {rows, ids, height}: ListRows): TopState {
  const selected = clamp(index, rows - 1)
  const offset = scrollOffset(selected, state.offset, height, rows)
  const selectedId = ids?.[selected] ?? state.selectedId
  return selected === state.selected && offset === state.offset && selectedId === state.selectedId
    ? state
    : {...state, selected, offset, selectedId}
}

/** The list changed: the row of the selected instance if it is still listed, else the same row number. */
function fit(state: TopState, list: ListRows): TopState {
  // An empty list (loading, the data coming back after `x`, a moment without rows) keeps the selection as it is.
  if (list.rows === 0) return state
  const at = state.selectedId === null ? -1 : (list.ids?.indexOf(state.selectedId) ?? -1)
  return select(state, at >= 0 ? at : state.selected, list)
}

/** The first events row shown (0: the newest) for this scroll state, `count` events and `height` rows. */
export function eventsFirst(scroll: number | null, count: number, height: number): number {
  return scroll === null ? 0 : clamp(count - 1 - scroll, Math.max(0, count - height))
}

/** Sets what the draft edits, as the user types: the filter and the search apply at once. */
function applyDraft(state: TopState, draft: string): TopState {
  if (state.editing === 'filter') return {...state, draft, filter: draft, selected: 0, offset: 0, selectedId: null}
  if (state.editing === 'events') return {...state, draft, eventsFilter: draft, eventsScroll: null}
  return {...state, draft, search: draft}
}

const DRAFTS = {filter: 'filter', search: 'search', events: 'eventsFilter'} as const

/** The one place `dbroker top`'s state changes; pure, so every key's effect is testable without rendering. */
export function topReducer(state: TopState, event: TopEvent): TopState {
  switch (event.type) {
    case 'move':
      return select(state, state.selected + event.delta, event)
    case 'move-to':
      return select(state, event.index, event)
    case 'fit':
      return fit(state, event)
    case 'move-host':
      return {...state, hostSelected: clamp(state.hostSelected + event.delta, event.hosts - 1)}
    case 'scroll-logs': {
      const from = state.follow ? event.lines - 1 : state.logBottom
      return {...state, follow: false, logBottom: clamp(from + event.delta, event.lines - 1)}
    }
    case 'log-at':
      return {...state, follow: false, logBottom: Math.max(0, event.line)}
    case 'scroll-events': {
      const from = eventsFirst(state.eventsScroll, event.count, event.height)
      const first = clamp(from + event.delta, Math.max(0, event.count - event.height))
      return {...state, eventsScroll: first === 0 ? null : event.count - 1 - first}
    }
    case 'follow':
      return event.on ? {...state, follow: true} : {...state, follow: false, logBottom: Math.max(0, event.lines - 1)}
    case 'toggle-focus':
      return {...state, focus: state.focus === 'hosts' ? 'instances' : 'hosts'}
    case 'show-host':
      return {
        ...state,
        view: 'list',
        host: event.host,
        focus: 'instances',
        selected: 0,
        offset: 0,
        selectedId: null,
        message: `instances on host ${event.host} (esc shows all)`,
      }
    case 'open-host':
      return {...state, view: 'host', hostId: event.host}
    case 'open-events':
      return {...state, view: 'events', eventsScroll: null}
    case 'open-contexts':
      return {...state, view: 'contexts', contextSelected: Math.max(0, event.current), contextsFrom: state.view}
    case 'move-context':
      return {...state, contextSelected: clamp(state.contextSelected + event.delta, event.contexts - 1)}
    case 'move-binding':
      return {...state, bindingSelected: clamp(state.bindingSelected + event.delta, event.bindings - 1)}
    case 'open': {
      const fresh = event.id !== state.openId || state.view === 'list'
      const next = {
        ...state,
        view: event.view,
        openId: event.id,
        revealed: fresh ? false : state.revealed,
        bindingSelected: fresh ? 0 : state.bindingSelected,
      }
      if (event.view === 'logs')
        return {...next, follow: true, search: '', logsFrom: state.view === 'detail' ? 'detail' : 'list'}
      return next
    }
    case 'back':
      if (state.view === 'logs') return {...state, view: state.logsFrom}
      if (state.view === 'contexts') return {...state, view: state.contextsFrom}
      return {...state, view: 'list'}
    case 'sort':
      return {...state, sort: nextSort(state.sort), sortReverse: false}
    case 'sort-by':
      return event.key === state.sort
        ? {...state, sortReverse: !state.sortReverse}
        : {...state, sort: event.key, sortReverse: false}
    case 'edit':
      return {
        ...state,
        editing: event.mode,
        draft: state[DRAFTS[event.mode]],
        focus: event.mode === 'filter' ? 'instances' : state.focus,
      }
    case 'edit-text':
      return applyDraft(state, state.draft + event.text)
    case 'edit-backspace':
      return applyDraft(state, state.draft.slice(0, -1))
    case 'edit-end':
      if (!event.cancel || state.editing === null) return {...state, editing: null}
      return {...state, editing: null, [DRAFTS[state.editing]]: ''}
    case 'clear-filter':
      return {...state, filter: '', host: null}
    case 'clear-search':
      return {...state, search: ''}
    case 'clear-events-filter':
      return {...state, eventsFilter: '', eventsScroll: null}
    case 'help':
      return {...state, help: event.open, helpOffset: 0}
    case 'scroll-help':
      return {...state, helpOffset: clamp(state.helpOffset + event.delta, event.max)}
    case 'confirm':
      return {...state, confirm: event.action}
    case 'say':
      return state.message === event.message ? state : {...state, message: event.message}
    case 'toggle':
      return {...state, [event.what]: !state[event.what]}
    case 'gone':
      return state.openId === event.id && state.view !== 'list' ? {...state, view: 'list'} : state
  }
}
