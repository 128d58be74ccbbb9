// What the keys of `dbroker top` do, beside the table in keys.ts that binds them: the rows the keys act on,
// moves, requests that ask first, clicks.
import type {InstanceView} from '../../core/admin.js'
import type {KeyEnv, KeyOutcome} from './keys.js'
import {deployedTarget, visibleInstances} from './model.js'
import type {PendingAction, TopEvent, TopState} from './state.js'

/** The rows of the instances panel for this state. */
export const visibleRows = (state: TopState, env: KeyEnv) =>
  visibleInstances(env.instances, state.filter, state.sort, state.host, state.sortReverse)

/** The list's rows as the move events carry them: how many, their ids, the window's height. */
export const listRows = (state: TopState, env: KeyEnv) => {
  const ids = visibleRows(state, env).map((i) => i.id)
  return {rows: ids.length, ids, height: env.listHeight}
}

export const currentRow = (state: TopState, env: KeyEnv): InstanceView | undefined => {
  const rows = visibleRows(state, env)
  return rows[Math.min(state.selected, rows.length - 1)]
}

export const onList = (state: TopState) => state.view === 'list'
export const onHosts = (state: TopState) => state.view === 'list' && state.focus === 'hosts'
export const inHost = (state: TopState) => state.view === 'host'
export const inEvents = (state: TopState) => state.view === 'events'
export const inDetail = (state: TopState) => state.view === 'detail'
export const inContexts = (state: TopState) => state.view === 'contexts'
export const inLogs = (state: TopState) => state.view === 'logs'
export const modal = (state: TopState) => Boolean(state.confirm || state.help || state.editing)

export function move(state: TopState, env: KeyEnv, delta: number): TopEvent | undefined {
  if (inHost(state)) return undefined
  if (inEvents(state)) return {type: 'scroll-events', delta, count: env.events ?? 0, height: env.eventsHeight ?? 1}
  if (inContexts(state)) return {type: 'move-context', delta, contexts: env.contexts?.names.length ?? 0}
  if (inDetail(state)) return {type: 'move-binding', delta, bindings: env.bindings ?? 0}
  if (onHosts(state)) return {type: 'move-host', delta, hosts: env.hosts.length}
  if (inLogs(state)) return {type: 'scroll-logs', delta, lines: env.logLines.length}
  return {type: 'move', delta, ...listRows(state, env)}
}

export const page = (state: TopState, env: KeyEnv) =>
  inLogs(state)
    ? env.logHeight
    : inEvents(state)
      ? (env.eventsHeight ?? 1)
      : onHosts(state)
        ? env.hosts.length
        : env.listHeight

/** The instance the keys act on: the highlighted row in the list, the open one in its detail or logs. */
export const targetId = (state: TopState, env: KeyEnv) =>
  state.view === 'list' ? currentRow(state, env)?.id : state.openId

/** What x says on a deployed container: it has no binding, so there is nothing to connect with. */
export const noConnect = (d: {label: string}): KeyOutcome => ({
  type: 'say',
  message: `${d.label} is a deployed container: it has no binding to connect with (l logs, r restart)`,
})

/** What d says on a deployed container: its manifest changes it; only the whole deployment is deleted. */
export const noDeprovision = (d: {deployment: string; label: string}): KeyOutcome => ({
  type: 'say',
  message: `${d.label} is deployment ${d.deployment}'s: \`dbroker deploy delete ${d.deployment}\` removes it all; its manifest changes one container`,
})

/** The one gate for actions that change something: read-only mode stops them here. */
export function request(state: TopState, env: KeyEnv, kind: PendingAction['kind']): KeyOutcome | undefined {
  if (env.readonly) return {type: 'say', message: `read-only: ${kind} is disabled`}
  const id = targetId(state, env)
  if (!id) return undefined
  const deployed = deployedTarget(id)
  if (deployed && kind === 'deprovision') return noDeprovision(deployed)
  const instance = env.instances.find((i) => i.id === id)
  const label = deployed?.label ?? instance?.name ?? id
  const shared = kind === 'restart' && (instance?.kind === 'shared' || instance?.kind === 'existing')
  const sharedWith = shared
    ? `its ${instance.kind === 'shared' ? 'shared' : 'adopted'} container serves ${instance.tenants ? `${instance.tenants} other instance(s)` : 'others'} too, all interrupted`
    : undefined
  return {type: 'confirm', action: {kind, id, label, ...(sharedWith ? {sharedWith} : {})}}
}

/** Drain or undrain the host on screen (the host view) or highlighted (the hosts panel), after a confirmation. */
export function requestDrain(state: TopState, env: KeyEnv): KeyOutcome | undefined {
  const host = inHost(state) ? env.hosts.find((h) => h.id === state.hostId) : env.hosts[state.hostSelected]
  if (!host) return undefined
  const kind = host.drained ? 'undrain' : 'drain'
  if (env.readonly) return {type: 'say', message: `read-only: ${kind} is disabled`}
  return {type: 'confirm', action: {kind, id: host.id, label: host.id}}
}

export function open(state: TopState, env: KeyEnv, view: 'detail' | 'logs'): KeyOutcome | undefined {
  const id = targetId(state, env)
  return id ? {type: 'open', view, id} : undefined
}

export function nextMatch(state: TopState, env: KeyEnv, direction: -1 | 1): KeyOutcome {
  const needle = state.search.toLowerCase()
  const lines = env.logLines
  const from = state.follow ? lines.length - 1 : state.logBottom
  for (let i = from + direction; i >= 0 && i < lines.length; i += direction) {
    if (lines[i].text.toLowerCase().includes(needle)) return {type: 'log-at', line: i}
  }
  return {type: 'say', message: `no more matches for ${state.search}`}
}

export function editKey(key: string): KeyOutcome | undefined {
  if (key === 'esc') return {type: 'edit-end', cancel: true}
  if (key === 'enter') return {type: 'edit-end', cancel: false}
  if (key === 'backspace') return {type: 'edit-backspace'}
  return [...key].length === 1 ? {type: 'edit-text', text: key} : undefined
}

export const hostsHint = (what: string): KeyOutcome => ({
  type: 'say',
  message: `${what} acts on an instance: tab to the instances panel`,
})

/** What a click on terminal row `row` selects: a host or an instance row of the list view. */
export function click(state: TopState, env: KeyEnv, row: number): KeyOutcome | KeyOutcome[] | undefined {
  if (state.view !== 'list' || !env.layout) return undefined
  const {hostsTop, hostsShown, listTop} = env.layout
  const hostOffset = Math.max(0, Math.min(state.hostSelected - hostsShown + 1, env.hosts.length - hostsShown))
  if (row >= hostsTop && row < hostsTop + hostsShown && row - hostsTop + hostOffset < env.hosts.length) {
    const target = row - hostsTop + hostOffset
    return [
      ...(state.focus === 'hosts' ? [] : [{type: 'toggle-focus'} as const]),
      {type: 'move-host', delta: target - state.hostSelected, hosts: env.hosts.length},
    ]
  }
  const list = listRows(state, env)
  const index = state.offset + row - listTop
  if (row < listTop || index >= list.rows || row - listTop >= env.listHeight) return undefined
  return [...(state.focus === 'instances' ? [] : [{type: 'toggle-focus'} as const]), {type: 'move-to', index, ...list}]
}
