import {Box, type Key, Text, useApp, useInput, useStdout} from 'ink'
import {useCallback, useEffect, useMemo, useRef, useState} from 'react'

import type {InstanceDetail} from '../../core/admin.js'
import {errorMessage} from '../../core/errors.js'
import {ConfirmDialog, Footer, Header, HelpOverlay, type View} from './chrome.js'
import type {TopClient} from './client.js'
import {DetailPanel} from './detail-panel.js'
import {HostsPanel} from './hosts-panel.js'
import {InstancesPanel} from './instances-panel.js'
import {LogsPanel} from './logs-panel.js'
import {nextSort, scrollOffset, type SortKey, visibleInstances} from './model.js'
import {ColorContext} from './theme.js'
import {useLogBuffer} from './use-log-buffer.js'
import {useTopData} from './use-top-data.js'

export interface TopScreenProps {
  client: TopClient
  /** Shown in the header: the context and URL. */
  target: string
  /** Disables restart and deprovision, here and only here. */
  readonly?: boolean
  color?: boolean
  statsIntervalMs?: number
  /** Fixed size for tests; the terminal's size otherwise. */
  columns?: number
  rows?: number
}

type Action = {kind: 'restart' | 'deprovision'; id: string; label: string}

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

/** `dbroker top`: hosts and instances live, drill-down detail, logs; every key handled here. */
export function TopScreen({client, target, readonly = false, color = true, statsIntervalMs = 5000, columns, rows}: TopScreenProps) {
  const {exit} = useApp()
  const size = useTerminalSize({columns, rows})
  const data = useTopData(client, {statsIntervalMs})

  const [view, setView] = useState<View>('list')
  const [focus, setFocus] = useState<'hosts' | 'instances'>('instances')
  const [selected, setSelected] = useState(0)
  const [offset, setOffset] = useState(0)
  const [hostSelected, setHostSelected] = useState(0)
  const [filter, setFilter] = useState('')
  const [editing, setEditing] = useState<null | 'filter' | 'search'>(null)
  const [draft, setDraft] = useState('')
  const [sort, setSort] = useState<SortKey>('name')
  const [help, setHelp] = useState(false)
  const [confirm, setConfirm] = useState<Action | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  const [openId, setOpenId] = useState<string | null>(null)
  const [revealed, setRevealed] = useState(false)
  const [detail, setDetail] = useState<InstanceDetail | null>(null)
  const [detailError, setDetailError] = useState<string | null>(null)
  const [follow, setFollow] = useState(true)
  const [wrap, setWrap] = useState(false)
  const [timestamps, setTimestamps] = useState(false)
  const [search, setSearch] = useState('')
  const [logBottom, setLogBottom] = useState(0)

  const list = useMemo(() => visibleInstances(data.instances, filter, sort), [data.instances, filter, sort])
  const current = list[Math.min(selected, list.length - 1)]
  const logs = useLogBuffer(client, view === 'logs' ? openId : null)

  const hostRows = Math.min(Math.max(data.hosts.length, 1), 4)
  const bodyHeight = size.rows - 1 - (message ? 2 : 1)
  const listHeight = Math.max(1, bodyHeight - (hostRows + 3) - 4)
  const logHeight = Math.max(1, bodyHeight - 3)

  // Keep the selection on a row and in the window as the list changes.
  useEffect(() => {
    const last = Math.max(0, list.length - 1)
    if (selected > last) setSelected(last)
    setOffset((o) => scrollOffset(Math.min(selected, last), o, listHeight, list.length))
  }, [list.length, selected, listHeight])

  useEffect(() => {
    if (follow) setLogBottom(Math.max(0, logs.lines.length - 1))
  }, [logs.lines, follow])

  // The open instance's detail, refreshed when the data changes.
  useEffect(() => {
    if (view !== 'detail' || !openId) return
    let stale = false
    client.instance(openId, {credentials: revealed}).then(
      (d) => {
        if (!stale) {
          setDetail(d)
          setDetailError(null)
        }
      },
      (error) => !stale && setDetailError(errorMessage(error)),
    )
    return () => {
      stale = true
    }
  }, [client, view, openId, revealed, data.instances])

  const say = (text: string | null) => setMessage(text)

  /** The one gate for actions that change something: read-only mode stops them here. */
  const request = (kind: Action['kind']) => {
    if (readonly) return say(`read-only: ${kind} is disabled`)
    const id = view === 'list' ? current?.id : openId
    if (!id) return
    const instance = data.instances.find((i) => i.id === id)
    setConfirm({kind, id, label: instance?.name ?? id})
  }

  const perform = async (action: Action) => {
    if (readonly) return
    say(`${action.kind === 'restart' ? 'restarting' : 'deprovisioning'} ${action.label}…`)
    try {
      if (action.kind === 'restart') await client.restart(action.id)
      else await client.remove(action.id)
      say(`${action.label}: ${action.kind === 'restart' ? 'restarted' : 'deprovisioned'}`)
      if (action.kind === 'deprovision' && view !== 'list') setView('list')
    } catch (error) {
      say(`${action.kind} of ${action.label} failed: ${errorMessage(error)}`)
    }
  }

  const open = (next: View) => {
    if (!current && view === 'list') return
    if (view === 'list') {
      setOpenId(current.id)
      setRevealed(false)
      setDetail(null)
    }
    if (next === 'logs') {
      setFollow(true)
      setSearch('')
    }
    setView(next)
  }

  const move = (delta: number) => {
    if (focus === 'hosts' && view === 'list') return setHostSelected((s) => Math.max(0, Math.min(data.hosts.length - 1, s + delta)))
    if (view === 'logs') {
      setFollow(false)
      return setLogBottom((b) => Math.max(0, Math.min(logs.lines.length - 1, b + delta)))
    }
    if (view === 'list') setSelected((s) => Math.max(0, Math.min(list.length - 1, s + delta)))
  }

  const nextMatch = (direction: -1 | 1) => {
    if (!search) return
    const needle = search.toLowerCase()
    for (let i = logBottom + direction; i >= 0 && i < logs.lines.length; i += direction) {
      if (logs.lines[i].text.toLowerCase().includes(needle)) {
        setFollow(false)
        return setLogBottom(i)
      }
    }
    say(`no more matches for ${search}`)
  }

  const onEditKey = (input: string, key: Key) => {
    if (key.escape) {
      setEditing(null)
      if (editing === 'filter') setFilter('')
      else setSearch('')
      return
    }
    if (key.return) return setEditing(null)
    let next = draft
    if (key.backspace || key.delete) next = draft.slice(0, -1)
    else if (input && !key.ctrl && !key.meta) next = draft + input
    setDraft(next)
    // The filter and the search apply as you type.
    if (editing === 'filter') {
      setFilter(next)
      setSelected(0)
    } else setSearch(next)
  }

  const onKey = (input: string, key: Key): void => {
    if (key.ctrl && input === 'c') return exit()
    if (confirm) {
      if (input === 'y') {
        const action = confirm
        setConfirm(null)
        void perform(action)
      } else if (input === 'n' || key.escape) {
        setConfirm(null)
        say('cancelled')
      }
      return
    }
    if (help) return setHelp(false)
    if (editing) return onEditKey(input, key)
    if (message) setMessage(null)

    if (input.length > 1 && input.startsWith('/') && view !== 'detail') {
      // A pasted or fast-typed "/text" arrives as one chunk.
      setDraft(input.slice(1))
      if (view === 'logs') {
        setSearch(input.slice(1))
        return setEditing('search')
      }
      setFilter(input.slice(1))
      return setEditing('filter')
    }
    if (input === 'q') return exit()
    if (input === '?') return setHelp(true)
    if (key.upArrow || input === 'k') return move(-1)
    if (key.downArrow || input === 'j') return move(1)
    if (key.pageUp) return move(-(view === 'logs' ? logHeight : listHeight))
    if (key.pageDown) return move(view === 'logs' ? logHeight : listHeight)
    if (input === 'r') return request('restart')
    if (input === 'd') return request('deprovision')

    if (view === 'list') {
      if (key.tab) return setFocus((f) => (f === 'hosts' ? 'instances' : 'hosts'))
      if (key.return) return open('detail')
      if (input === 'l') return open('logs')
      if (input === 's') return setSort(nextSort)
      if (input === 'g') return setSelected(0)
      if (input === 'G') return setSelected(Math.max(0, list.length - 1))
      if (input === '/') {
        setFocus('instances')
        setDraft(filter)
        return setEditing('filter')
      }
      if (key.escape && filter) return setFilter('')
      return
    }
    if (view === 'detail') {
      if (input === 'c') return setRevealed((r) => !r)
      if (input === 'l') return open('logs')
      if (key.escape || key.backspace || key.leftArrow) return setView('list')
      return
    }
    // logs
    if (input === 'f') return setFollow((f) => !f)
    if (input === 'w') return setWrap((w) => !w)
    if (input === 't') return setTimestamps((t) => !t)
    if (input === 'g') {
      setFollow(false)
      return setLogBottom(Math.min(logs.lines.length - 1, logHeight - 1))
    }
    if (input === 'G') return setFollow(true)
    if (input === 'n') return nextMatch(-1)
    if (input === 'N') return nextMatch(1)
    if (input === '/') {
      setDraft(search)
      return setEditing('search')
    }
    if (key.escape) {
      if (search) return setSearch('')
      return setView(openId && detail ? 'detail' : 'list')
    }
  }
  // Keys go to the handler of the latest render, not the one Ink re-attaches in a later effect.
  const latest = useRef(onKey)
  latest.current = onKey
  useInput(useCallback((input: string, key: Key) => latest.current(input, key), []))

  const openLabel = data.instances.find((i) => i.id === openId)?.name ?? openId ?? ''
  let body: React.ReactNode
  if (help) body = <HelpOverlay readonly={readonly} />
  else if (view === 'detail') body = <DetailPanel detail={detail} error={detailError} revealed={revealed} width={size.columns} />
  else if (view === 'logs')
    body = <LogsPanel title={openLabel} buffer={logs} bottom={logBottom} height={logHeight} width={size.columns} follow={follow} wrap={wrap} timestamps={timestamps} search={search} />
  else
    body = (
      <>
        <HostsPanel hosts={data.hosts} focused={focus === 'hosts'} selected={hostSelected} height={hostRows} width={size.columns} />
        <InstancesPanel
          rows={list}
          total={data.instances.length}
          cpuHistory={data.cpuHistory}
          selected={selected}
          offset={offset}
          height={listHeight}
          width={size.columns}
          focused={focus === 'instances'}
          sort={sort}
          filter={filter}
        />
      </>
    )

  return (
    <ColorContext.Provider value={color}>
      <Box flexDirection="column" width={size.columns} height={size.rows}>
        <Header target={target} live={data.live} hosts={data.hosts.length} instances={data.instances.length} error={data.error} />
        {body}
        {confirm && <ConfirmDialog question={`${confirm.kind === 'restart' ? 'Restart the container of' : 'Deprovision (delete data of)'} ${confirm.label}?`} />}
        {editing && (
          <Text>
            {editing === 'filter' ? 'filter' : 'search'}: {draft}
            <Text inverse> </Text>
          </Text>
        )}
        <Footer view={view} readonly={readonly} message={message} />
      </Box>
    </ColorContext.Provider>
  )
}
