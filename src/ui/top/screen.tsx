// Over 300 lines: the one component that wires every view of top to the data, the key table and the effects; splitting it would spread one screen over files.
import {Box, Text, useApp, useStdout} from 'ink'
import {useEffect, useMemo, useState} from 'react'

import {errorMessage} from '../../core/errors.js'
import {ConfirmDialog, Footer, Header, HelpOverlay, helpWindow} from './chrome.js'
import type {TopClient} from './client.js'
import {copyToClipboard} from './clipboard.js'
import {type ContextChoice, ContextsPanel} from './contexts-panel.js'
import {DeployedPanel} from './deployed-panel.js'
import {DetailPanel} from './detail-panel.js'
import {eventRows, EventsPanel, matchingEvents} from './events-panel.js'
import {HostPanel} from './host-panel.js'
import {HostsPanel} from './hosts-panel.js'
import {INSTANCE_COLUMNS, InstancesPanel, innerWidth} from './instances-panel.js'
import {layoutColumns} from './columns.js'
import {LogsPanel} from './logs-panel.js'
import type {KeyEffect, KeyEnv} from './keys.js'
import {deployedTarget, isDescending, visibleInstances} from './model.js'
import {eventsFirst, initialTopState, type PendingAction, type TopState} from './state.js'
import {ColorContext} from './theme.js'
import {useInstanceDetail} from './use-instance-detail.js'
import {useKeyStore} from './use-key-store.js'
import {useLogBuffer} from './use-log-buffer.js'
import {type FirstLook, useTopData} from './use-top-data.js'

export interface TopScreenProps {
  client: TopClient
  /** Shown in the header: the context and URL. */
  target: string
  /** Disables restart and deprovision, here and only here. */
  readonly?: boolean
  color?: boolean
  statsIntervalMs?: number
  /** `x`: the screen's state, to come back to after the client exits; without it x says it can't. */
  onConnect?: (instanceId: string, state: TopState) => void
  /** Where the screen starts: the state it left for a client session. */
  initialState?: TopState
  /** Rows fetched before the screen mounted: the first frame draws them instead of "loading…". */
  initialData?: FirstLook
  /** Where y puts a URI; the terminal's clipboard through OSC 52 unless a test says otherwise. */
  clipboard?: (text: string) => void
  /** The contexts `:` offers, read each time it opens, and the one shown; `onSwitchContext` replaces the screen with that broker's. */
  contexts?: () => ContextChoice[]
  context?: string
  onSwitchContext?: (name: string) => Promise<void>
  /** Drains or undrains a host (D); without it D says it can't. */
  onDrain?: (host: string, drained: boolean) => Promise<unknown>
  /** Fixed size for tests; the terminal's size otherwise. */
  columns?: number
  rows?: number
}

function useTerminalSize(fixed: {columns?: number; rows?: number}): {columns: number; rows: number} {
  const {stdout} = useStdout()
  const read = () => ({columns: fixed.columns ?? stdout.columns ?? 100, rows: fixed.rows ?? stdout.rows ?? 30})
  const [size, setSize] = useState(read)
  useEffect(() => {
    if (fixed.columns && fixed.rows) return
    const onResize = () => setSize(read())
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout])
  return size
}

const QUESTIONS: Record<PendingAction['kind'], string> = {
  restart: 'Restart the container of',
  deprovision: 'Deprovision (delete data of)',
  drain: 'Drain (no new instances on) host',
  undrain: 'Undrain (take new instances again on) host',
}

/** `dbroker top`: hosts and instances live, drill-down detail, logs; its keys are the table in keys.ts. */
export function TopScreen({
  client,
  target,
  readonly = false,
  color = true,
  statsIntervalMs = 5000,
  onDrain,
  onConnect,
  initialState,
  initialData,
  clipboard,
  contexts: readContexts = () => [],
  context,
  onSwitchContext,
  columns,
  rows,
}: TopScreenProps) {
  const {exit} = useApp()
  const {stdout} = useStdout()
  const size = useTerminalSize({columns, rows})
  const data = useTopData(client, {statsIntervalMs, initial: initialData})
  const {state, send} = useKeyStore(
    initialState ?? initialTopState,
    () => env,
    (effect: KeyEffect, now: TopState) => {
      if (effect.effect === 'quit') exit()
      else if (effect.effect === 'copy') void copy(effect.instanceId, effect.binding)
      else if (effect.effect === 'switch-context') void switchTo(effect.name)
      else if (effect.effect === 'list-contexts') listContexts()
      else if (effect.effect === 'connect') {
        if (!onConnect) send({type: 'say', message: 'this screen cannot open a client'})
        else {
          onConnect(effect.instanceId, now)
          exit()
        }
      } else void perform(effect.action)
    },
  )
  const logs = useLogBuffer(client, state.view === 'logs' ? state.openId : null)

  const DONE: Record<PendingAction['kind'], [string, string]> = {
    restart: ['restarting', 'restarted'],
    deprovision: ['deprovisioning', 'deprovisioned'],
    drain: ['draining', 'drained: new instances go elsewhere'],
    undrain: ['undraining', 'undrained'],
  }
  const perform = async (action: PendingAction) => {
    if (readonly) return
    const [doing, done] = DONE[action.kind]
    send({type: 'say', message: `${doing} ${action.label}…`})
    try {
      if (action.kind === 'restart') await client.restart(action.id, {force: action.sharedWith !== undefined})
      else if (action.kind === 'deprovision') await client.remove(action.id)
      else if (onDrain) await onDrain(action.id, action.kind === 'drain')
      else throw new Error('this screen has no admin client to drain with')
      send({type: 'say', message: `${action.label}: ${done}`})
      if (action.kind === 'deprovision') send({type: 'gone', id: action.id})
    } catch (error) {
      send({type: 'say', message: `${action.kind} of ${action.label} failed: ${errorMessage(error)}`})
    }
  }

  const [contexts, setContexts] = useState<ContextChoice[]>([])
  const listContexts = () => {
    const choices = readContexts()
    setContexts(choices)
    if (choices.length === 0)
      send({type: 'say', message: 'no contexts to switch to: add one with `dbroker context add`'})
    else send({type: 'open-contexts', current: choices.findIndex((c) => c.name === context)})
  }

  const switchTo = async (name: string) => {
    if (name === context) return
    send({type: 'say', message: `connecting to context ${name}…`})
    try {
      if (!onSwitchContext) throw new Error('this screen cannot switch contexts')
      await onSwitchContext(name)
    } catch (error) {
      send({type: 'say', message: `context ${name}: ${errorMessage(error)}`})
    }
  }

  /** The binding's URI goes to the terminal's clipboard (OSC 52): it works over SSH, and never reaches the screen. */
  const copy = async (instanceId: string, index: number) => {
    if (readonly) return
    try {
      const withCredentials = await client.instance(instanceId, {credentials: true})
      const binding = withCredentials.bindings[index]
      const uri = binding?.credentials?.uri
      if (typeof uri !== 'string') throw new Error('the binding has no URI')
      ;(clipboard ?? ((text: string) => copyToClipboard(stdout, text)))(uri)
      send({type: 'say', message: `copied the URI of binding ${binding.id} (OSC 52: your terminal's clipboard)`})
    } catch (error) {
      send({type: 'say', message: `copy failed: ${errorMessage(error)}`})
    }
  }

  const list = useMemo(
    () => visibleInstances(data.instances, state.filter, state.sort, state.host, state.sortReverse),
    [data.instances, state.filter, state.sort, state.host, state.sortReverse],
  )
  const instanceNames = useMemo(() => new Map(data.instances.map((i) => [i.id, i.name])), [data.instances])
  const hostCpus = useMemo(() => new Map(data.hosts.map((h) => [h.id, h.facts?.cpus ?? 0])), [data.hosts])
  const hostRows = Math.min(Math.max(data.hosts.length, 1), 4)
  const bodyHeight = size.rows - 1 - (state.message ? 2 : 1)
  // A filter takes a line of its own under the column headers.
  const filtering = Boolean(state.filter || state.host)
  const listHeight = Math.max(1, bodyHeight - (hostRows + 3) - 4 - (filtering ? 1 : 0))
  const logHeight = Math.max(1, bodyHeight - 3)
  const eventCount = useMemo(
    () => matchingEvents(data.events, state.eventsFilter, (id) => instanceNames.get(id)).matching.length,
    [data.events, state.eventsFilter, instanceNames],
  )
  const eventsHeight = eventRows(bodyHeight)
  const {detail: opened, error: detailError} = useInstanceDetail(client, state.openId, {
    active: state.view === 'detail',
    credentials: state.revealed,
    refresh: data.instances,
  })
  const detail = opened?.kind === 'instance' ? opened.detail : null
  const env: KeyEnv = {
    instances: data.instances,
    hosts: data.hosts,
    logLines: logs.lines,
    listHeight,
    logHeight,
    events: eventCount,
    eventsHeight,
    readonly,
    bindings: detail?.id === state.openId ? detail.bindings.length : 0,
    helpScroll: helpWindow(readonly, size.columns, bodyHeight).maxOffset,
    contexts: {names: contexts.map((c) => c.name), current: contexts.findIndex((c) => c.name === context)},
    // Header, then each panel's border and column line before its rows (see the list view below).
    layout: {
      hostsTop: 4,
      hostsShown: Math.min(hostRows, data.hosts.length),
      listTop: 4 + hostRows + 3 + (filtering ? 1 : 0),
    },
  }

  // Keep the selection on its instance and in the window as the list changes (rows come, go or sort anew).
  const listIds = list.map((i) => i.id).join('\n')
  useEffect(
    () => send({type: 'fit', rows: list.length, ids: listIds ? listIds.split('\n') : [], height: listHeight}),
    [listIds, listHeight, send],
  )

  // Sorted by a column this width leaves out (SERVICE, HOST at 80 columns): the header says so.
  const sortShown = layoutColumns(INSTANCE_COLUMNS, innerWidth(size.columns)).some((c) => c.sort === state.sort)
  const hiddenSort =
    state.view === 'list' && !sortShown
      ? `${state.sort}${isDescending(state.sort, state.sortReverse) ? '▼' : '▲'}`
      : undefined
  const openLabel =
    deployedTarget(state.openId)?.label ?? data.instances.find((i) => i.id === state.openId)?.name ?? state.openId ?? ''
  const logBottom = state.follow ? Math.max(0, logs.lines.length - 1) : state.logBottom
  let body: React.ReactNode
  if (state.help)
    body = <HelpOverlay readonly={readonly} width={size.columns} height={bodyHeight} offset={state.helpOffset} />
  else if (state.view === 'detail' && opened?.kind === 'deployed')
    body = <DeployedPanel detail={opened.detail} width={size.columns} />
  else if (state.view === 'detail')
    body = (
      <DetailPanel
        detail={detail}
        error={detailError}
        revealed={state.revealed}
        width={size.columns}
        selectedBinding={state.bindingSelected}
      />
    )
  else if (state.view === 'host')
    body = (
      <HostPanel
        host={data.hosts.find((h) => h.id === state.hostId)}
        instances={data.instances.filter((i) => i.hostId === state.hostId)}
        width={size.columns}
        height={bodyHeight}
        stale={data.stale}
        beatsAt={data.beatsAt}
      />
    )
  else if (state.view === 'contexts')
    body = (
      <ContextsPanel
        contexts={contexts}
        current={contexts.findIndex((c) => c.name === context)}
        selected={state.contextSelected}
        width={size.columns}
      />
    )
  else if (state.view === 'events')
    body = (
      <EventsPanel
        events={data.events}
        filter={state.eventsFilter}
        nameOf={(id) => instanceNames.get(id)}
        width={size.columns}
        height={bodyHeight}
        first={eventsFirst(state.eventsScroll, eventCount, eventsHeight)}
      />
    )
  else if (state.view === 'logs')
    body = (
      <LogsPanel
        title={openLabel}
        buffer={logs}
        bottom={logBottom}
        height={logHeight}
        width={size.columns}
        follow={state.follow}
        wrap={state.wrap}
        timestamps={state.timestamps}
        search={state.search}
      />
    )
  else
    body = (
      <>
        <HostsPanel
          hosts={data.hosts}
          loading={data.loading}
          focused={state.focus === 'hosts'}
          selected={state.hostSelected}
          height={hostRows}
          width={size.columns}
          stale={data.stale}
          beatsAt={data.beatsAt}
        />
        <InstancesPanel
          rows={list}
          total={data.instances.length}
          loading={data.loading}
          cpuHistory={data.cpuHistory}
          hostCpus={hostCpus}
          selected={state.selected}
          offset={state.offset}
          height={listHeight}
          width={size.columns}
          focused={state.focus === 'instances'}
          stale={data.stale}
          sort={state.sort}
          sortReverse={state.sortReverse}
          filter={state.host ? `host:${state.host}${state.filter ? ` ${state.filter}` : ''}` : state.filter}
        />
      </>
    )

  return (
    <ColorContext.Provider value={color}>
      <Box flexDirection="column" width={size.columns} height={size.rows}>
        <Header
          target={target}
          loading={data.loading}
          live={data.live}
          connecting={data.connecting}
          stale={data.stale}
          hosts={data.hosts.length}
          instances={data.instances.length}
          error={data.error}
          width={size.columns}
          sort={hiddenSort}
        />
        {body}
        {state.confirm && (
          <ConfirmDialog
            question={`${QUESTIONS[state.confirm.kind]} ${state.confirm.label}${state.confirm.sharedWith ? ` (${state.confirm.sharedWith})` : ''}?`}
          />
        )}
        {state.editing && (
          <Text>
            {state.editing === 'search' ? 'search' : 'filter'}: {state.draft}
            <Text inverse> </Text>
          </Text>
        )}
        <Footer
          view={
            state.view === 'list' && state.focus === 'hosts'
              ? 'hosts'
              : state.view === 'detail' && deployedTarget(state.openId)
                ? 'deployed'
                : state.view
          }
          readonly={readonly}
          message={state.message}
          width={size.columns}
        />
      </Box>
    </ColorContext.Provider>
  )
}
