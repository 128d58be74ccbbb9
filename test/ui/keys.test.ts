import {describe, expect, it} from 'vitest'

import {KEY_TABLE, type KeyEnv, keyNames, pressKey, pressKeys, visibleRows} from '../../src/ui/top/keys.js'
import {eventsFirst, initialTopState, topReducer, type TopState} from '../../src/ui/top/state.js'
import {fakeDeployed, fakeHost, fakeInstance} from './fake-client.js'

const env = (over: Partial<KeyEnv> = {}): KeyEnv => ({
  instances: Array.from({length: 10}, (_, n) => fakeInstance(n + 1)),
  hosts: [fakeHost('h1'), fakeHost('h2')],
  logLines: Array.from({length: 50}, (_, n) => ({time: null, text: n === 10 ? 'Ready to accept' : `line ${n}`})),
  listHeight: 4,
  logHeight: 5,
  readonly: false,
  ...over,
})

const press = (keys: string[], state: TopState = initialTopState, e: KeyEnv = env()) => pressKeys(state, e, keys)

describe('the key table', () => {
  it('is data: every binding names its keys, and each of the keys a user reads in the footer is bound', () => {
    const bound = new Set(KEY_TABLE.flatMap((b) => b.keys))
    for (const key of [
      'j',
      'k',
      'up',
      'down',
      'enter',
      'tab',
      '/',
      's',
      'l',
      'r',
      'd',
      'c',
      'f',
      'w',
      't',
      'g',
      'G',
      'esc',
      '?',
      'q',
      'ctrl-c',
    ])
      expect(bound).toContain(key)
  })

  it('j/k and arrows move in the list, clamped to its rows, and the window scrolls with the selection', () => {
    expect(press(['j', 'j', 'down']).state.selected).toBe(3)
    expect(press(['j', 'k', 'up']).state.selected).toBe(0)
    const far = press(Array(15).fill('j')).state
    expect(far).toMatchObject({selected: 9, offset: 6})
    expect(press(['G']).state.selected).toBe(9)
    expect(press(['G', 'g']).state).toMatchObject({selected: 0, offset: 0})
  })

  it('a chunk typed fast (jjjjj) is five keys, and a pasted /text filters', () => {
    expect(keyNames('jjjjj')).toEqual(['j', 'j', 'j', 'j', 'j'])
    expect(press(keyNames('jjjjj')).state.selected).toBe(5)
    const filtered = press(keyNames('/0003\r')).state
    expect(filtered).toMatchObject({filter: '0003', editing: null})
    expect(visibleRows(filtered, env()).map((i) => i.name)).toEqual(['inst-0003'])
    expect(keyNames('\u0003')).toEqual(['ctrl-c'])
    expect(keyNames('\u001B')).toEqual(['esc'])
    expect(keyNames('\u001B[B')).toEqual(['down'])
    expect(keyNames('\u001BOA')).toEqual(['up'])
    expect(keyNames('\u001B[6~')).toEqual(['pagedown'])
    expect(keyNames('\u001B[1;5A')).toEqual(['up'])
    expect(keyNames('\u0004')).toEqual([])
  })

  it('esc typed right before another key counts as esc and that key: top has no Alt bindings', () => {
    // What Ink's reader hands over as one event when Esc and the next key come in one chunk.
    expect(keyNames('\u001B\t')).toEqual(['esc', 'tab'])
    expect(keyNames('\u001Be')).toEqual(['esc', 'e'])
    expect(keyNames('\u001B\u001B')).toEqual(['esc', 'esc'])
    expect(keyNames('\u001B\u001B[B')).toEqual(['esc', 'down'])
    // ESC O is an SS3 introducer only with its final byte; alone (flushed), it is esc and sort by host.
    expect(keyNames('\u001BO')).toEqual(['esc', 'O'])
    const detail = press(['enter']).state
    expect(press(keyNames('\u001B\t'), detail).state).toMatchObject({view: 'list', focus: 'hosts'})
    expect(press(keyNames('\u001Be'), detail).state.view).toBe('events')
    expect(press(['esc', 'e'], detail).state.view).toBe('events')
  })

  it('with the hosts panel focused, keys act on the highlighted host and never on the hidden instance', () => {
    const onHosts = press(['j', 'tab', 'j']).state
    expect(onHosts).toMatchObject({focus: 'hosts', hostSelected: 1, selected: 1})
    for (const key of ['d', 'r', 'l']) {
      const after = pressKey(onHosts, env(), key)
      expect(after.state.confirm).toBeNull()
      expect(after.state.view).toBe('list')
      expect(after.state.message).toContain('tab to the instances panel')
    }
    const hostView = pressKey(onHosts, env(), 'enter').state
    expect(hostView).toMatchObject({view: 'host', hostId: 'h2', openId: null})
    const shown = pressKey(
      hostView,
      env({instances: [fakeInstance(1, {hostId: 'h1'}), fakeInstance(2, {hostId: 'h2'})]}),
      'enter',
    ).state
    expect(shown).toMatchObject({view: 'list', focus: 'instances', host: 'h2', openId: null})
    expect(
      visibleRows(shown, env({instances: [fakeInstance(1, {hostId: 'h1'}), fakeInstance(2, {hostId: 'h2'})]})).map(
        (i) => i.id,
      ),
    ).toEqual(['id-0002'])
    expect(pressKey(shown, env(), 'esc').state.host).toBeNull()
  })

  it('D on a host asks to drain it, or to undrain a drained one; read-only refuses', () => {
    const onH2 = press(['tab', 'j']).state
    expect(pressKey(onH2, env(), 'D').state.confirm).toEqual({kind: 'drain', id: 'h2', label: 'h2'})
    const drained = env({hosts: [fakeHost('h1'), fakeHost('h2', {drained: true})]})
    const inHost = pressKey(onH2, drained, 'enter').state
    expect(pressKey(inHost, drained, 'D').state.confirm).toEqual({kind: 'undrain', id: 'h2', label: 'h2'})
    const refused = pressKey(onH2, env({readonly: true}), 'D').state
    expect(refused.confirm).toBeNull()
    expect(refused.message).toBe('read-only: drain is disabled')
    expect(pressKey(inHost, drained, 'esc').state).toMatchObject({view: 'list', focus: 'hosts'})
  })

  it('e opens the events, / filters them, esc clears the filter and then goes back', () => {
    const events = press(['e']).state
    expect(events.view).toBe('events')
    const filtered = press([...'/redis', 'enter'], events).state
    expect(filtered).toMatchObject({eventsFilter: 'redis', editing: null, filter: ''})
    const cleared = pressKey(filtered, env(), 'esc').state
    expect(cleared).toMatchObject({view: 'events', eventsFilter: ''})
    expect(pressKey(cleared, env(), 'esc').state.view).toBe('list')
  })

  it('the events view scrolls like the logs: j/k, PgDn/PgUp, G to the oldest, g back to the newest', () => {
    const many = env({events: 67, eventsHeight: 19})
    const events = pressKeys(initialTopState, many, ['e']).state
    const first = (s: TopState) => eventsFirst(s.eventsScroll, 67, 19)
    expect(first(pressKeys(events, many, Array(25).fill('j')).state)).toBe(25)
    expect(first(pressKeys(events, many, ['j', 'j', 'k']).state)).toBe(1)
    expect(first(pressKeys(events, many, ['pagedown']).state)).toBe(19)
    expect(first(pressKeys(events, many, ['pagedown', 'pageup']).state)).toBe(0)
    const oldest = pressKeys(events, many, ['G']).state
    expect(first(oldest)).toBe(67 - 19)
    expect(first(pressKeys(oldest, many, ['j']).state)).toBe(67 - 19)
    expect(pressKeys(oldest, many, ['g']).state.eventsScroll).toBeNull()
    expect(pressKeys(events, many, ['wheel-down']).state.eventsScroll).not.toBeNull()
  })

  it('scrolled events stay put as new ones arrive on top; a new filter or reopening starts at the newest', () => {
    const many = env({events: 67, eventsHeight: 19})
    const scrolled = pressKeys(initialTopState, many, ['e', 'j', 'j', 'j']).state
    // Three newer events arrive: the row on top is the same event, now three further down.
    expect(eventsFirst(scrolled.eventsScroll, 70, 19)).toBe(6)
    expect(pressKeys(scrolled, many, [...'/redis']).state.eventsScroll).toBeNull()
    expect(pressKeys(scrolled, many, ['esc', 'e']).state.eventsScroll).toBeNull()
    // Fewer events than rows: nothing to scroll.
    const few = env({events: 5, eventsHeight: 19})
    expect(pressKeys(initialTopState, few, ['e', 'j', 'G']).state.eventsScroll).toBeNull()
  })

  it('in the detail view the arrows pick a binding and y copies it; read-only refuses', () => {
    const detail = press(['enter']).state
    const withTwo = env({bindings: 2})
    const second = pressKey(detail, withTwo, 'j').state
    expect(second).toMatchObject({view: 'detail', bindingSelected: 1, selected: 0})
    expect(pressKey(second, withTwo, 'j').state.bindingSelected).toBe(1)
    expect(pressKey(second, withTwo, 'y').effects).toEqual([{effect: 'copy', instanceId: 'id-0001', binding: 1}])
    expect(pressKey(second, env({bindings: 2, readonly: true}), 'y')).toMatchObject({
      effects: [],
      state: {message: 'read-only: credentials stay hidden'},
    })
    expect(pressKey(detail, env({bindings: 0}), 'y').state.message).toBe('no binding to copy')
  })

  it('x leaves for the client of the highlighted instance or the open one; read-only refuses', () => {
    expect(press(['j', 'x']).effects).toEqual([{effect: 'connect', instanceId: 'id-0002'}])
    expect(press(['enter', 'x']).effects).toEqual([{effect: 'connect', instanceId: 'id-0001'}])
    const refused = press(['x'], initialTopState, env({readonly: true}))
    expect(refused.effects).toEqual([])
    expect(refused.state.message).toContain('read-only: connect is disabled')
  })

  it("on a manifest's container: x and d say why not without asking or acting, r asks by its deployment's name", () => {
    const deployed = env({instances: [fakeDeployed('cache'), fakeInstance(1)]})
    const connect = press(['x'], initialTopState, deployed)
    expect(connect.effects).toEqual([])
    expect(connect.state.message).toBe(
      'shop/cache is a deployed container: it has no binding to connect with (l logs, r restart)',
    )
    const remove = press(['d'], initialTopState, deployed)
    expect(remove.state.confirm).toBeNull()
    expect(remove.state.message).toContain(
      "shop/cache is deployment shop's: `dbroker deploy delete shop` removes it all",
    )
    expect(press(['d', 'y'], initialTopState, deployed).effects).toEqual([])
    expect(press(['r'], initialTopState, deployed).state.confirm).toEqual({
      kind: 'restart',
      id: 'deploy:shop:local:cache',
      label: 'shop/cache',
    })
    // In its detail the same, and c has no credentials to reveal; enter and l open it as any row.
    const detail = press(['enter'], initialTopState, deployed).state
    expect(detail).toMatchObject({view: 'detail', openId: 'deploy:shop:local:cache'})
    expect(press(['x'], detail, deployed).state.message).toContain('no binding to connect with')
    expect(press(['d'], detail, deployed).state.message).toContain('dbroker deploy delete shop')
    expect(press(['c'], detail, deployed).state).toMatchObject({revealed: false})
    expect(press(['l'], detail, deployed).state).toMatchObject({view: 'logs', openId: 'deploy:shop:local:cache'})
    // --readonly says read-only first, as for every other row.
    expect(press(['d'], initialTopState, env({...deployed, readonly: true})).state.message).toBe(
      'read-only: deprovision is disabled',
    )
  })

  it('reads mouse reports: the wheel scrolls by three, a click selects the row it lands on', () => {
    expect(keyNames('\u001B[<64;10;5M')).toEqual(['wheel-up'])
    expect(keyNames('\u001B[<65;10;5M')).toEqual(['wheel-down'])
    expect(keyNames('\u001B[<0;10;12M')).toEqual(['click:12'])
    expect(keyNames('\u001B[<0;10;12m')).toEqual([])
    const layout = {hostsTop: 4, hostsShown: 2, listTop: 10}
    const on = env({layout, listHeight: 8})
    expect(pressKey(initialTopState, on, 'wheel-down').state.selected).toBe(3)
    // Row 12 is the third instance row; row 5 is the second host.
    expect(pressKey(initialTopState, on, 'click:12').state).toMatchObject({selected: 2, focus: 'instances'})
    expect(pressKey(initialTopState, on, 'click:5').state).toMatchObject({hostSelected: 1, focus: 'hosts'})
    // Below the last row, or on a border: nothing moves.
    const few = env({layout, listHeight: 8, instances: [fakeInstance(1), fakeInstance(2)]})
    expect(pressKey(initialTopState, few, 'click:15').state).toBe(initialTopState)
    expect(pressKey(initialTopState, on, 'click:8').state).toBe(initialTopState)
  })

  it('r and d ask first, y performs, n cancels; read-only refuses without asking', () => {
    const asked = press(['j', 'd']).state
    expect(asked.confirm).toEqual({kind: 'deprovision', id: 'id-0002', label: 'inst-0002'})
    expect(pressKey(asked, env(), 'y')).toEqual({
      state: {...asked, confirm: null},
      effects: [{effect: 'perform', action: asked.confirm}],
    })
    expect(pressKey(asked, env(), 'n').state).toMatchObject({confirm: null, message: 'cancelled'})
    expect(pressKey(asked, env(), 'q').effects).toEqual([])
    expect(press(['r'], initialTopState, env({readonly: true})).state).toMatchObject({
      confirm: null,
      message: 'read-only: restart is disabled',
    })
    const readonly = press(['r', 'y', 'd', 'y'], initialTopState, env({readonly: true}))
    expect(readonly.state.confirm).toBeNull()
    expect(readonly.effects).toEqual([])
    const detail = press(['enter', 'c'], initialTopState, env({readonly: true})).state
    expect(detail).toMatchObject({view: 'detail', revealed: false, message: 'read-only: credentials stay hidden'})
  })

  it('enter opens the detail of the selected row, c reveals, l opens its logs and esc goes back the way it came', () => {
    const detail = press(['j', 'enter']).state
    expect(detail).toMatchObject({view: 'detail', openId: 'id-0002', revealed: false})
    const logs = press(['c', 'l'], detail).state
    expect(logs).toMatchObject({view: 'logs', openId: 'id-0002', revealed: true, follow: true})
    expect(press(['esc'], logs).state.view).toBe('detail')
    expect(press(['esc', 'esc'], logs).state.view).toBe('list')
    expect(press(['l', 'esc']).state.view).toBe('list')
  })

  it('in the logs: scrolling pauses, f and G follow again, / searches and n finds the match', () => {
    const logs = press(['l']).state
    expect(press(['k'], logs).state).toMatchObject({follow: false, logBottom: 48})
    expect(press(['k', 'G'], logs).state.follow).toBe(true)
    expect(press(['f'], logs).state).toMatchObject({follow: false, logBottom: 49})
    const found = press([...'/ready', 'enter', 'n'], logs).state
    expect(found).toMatchObject({search: 'ready', editing: null, follow: false, logBottom: 10})
    expect(press(['n'], found).state.message).toBe('no more matches for ready')
    expect(press(['esc'], found).state).toMatchObject({search: '', view: 'logs'})
  })

  it('q and ctrl-c quit, but q types into the filter while it is edited', () => {
    expect(press(['q']).effects).toEqual([{effect: 'quit'}])
    expect(press(['/', 'q']).state.filter).toBe('q')
    expect(press(['/', 'q', 'ctrl-c']).effects).toEqual([{effect: 'quit'}])
  })
})

describe('the reducer', () => {
  it('keeps the selection on a row when the list shrinks, and leaves a view whose instance is gone', () => {
    const at = topReducer({...initialTopState, selected: 8, offset: 5}, {type: 'fit', rows: 3, height: 4})
    expect(at).toMatchObject({selected: 2, offset: 0})
    const open = topReducer(initialTopState, {type: 'open', view: 'detail', id: 'x'})
    expect(topReducer(open, {type: 'gone', id: 'x'}).view).toBe('list')
    expect(topReducer(open, {type: 'gone', id: 'y'})).toBe(open)
  })

  it('keeps the selection on its instance as the list changes, and leaves it alone while the list is empty', () => {
    const ids = ['a', 'b', 'c', 'd']
    const onC = topReducer(initialTopState, {type: 'move', delta: 2, rows: 4, ids, height: 4})
    expect(onC).toMatchObject({selected: 2, selectedId: 'c'})
    // Loading (the screen coming back after x): no rows yet, the selection stays where it was.
    expect(topReducer(onC, {type: 'fit', rows: 0, ids: [], height: 4})).toBe(onC)
    // A new instance sorts in above it: the selection follows c to its new row.
    expect(topReducer(onC, {type: 'fit', rows: 5, ids: ['a', 'a2', 'b', 'c', 'd'], height: 4})).toMatchObject({
      selected: 3,
      selectedId: 'c',
    })
    // c is gone: the same row number, now on d.
    expect(topReducer(onC, {type: 'fit', rows: 3, ids: ['a', 'b', 'd'], height: 4})).toMatchObject({
      selected: 2,
      selectedId: 'd',
    })
  })

  it('x comes back to the same instance: the state it left keeps the selection through the empty first frames', () => {
    const rows = env()
    const left = press(['j', 'j'], initialTopState, rows).state
    expect(left.selectedId).toBe('id-0003')
    const loading = topReducer(left, {type: 'fit', rows: 0, ids: [], height: 4})
    const loaded = topReducer(loading, {
      type: 'fit',
      rows: 10,
      ids: visibleRows(left, rows).map((i) => i.id),
      height: 4,
    })
    expect(loaded).toMatchObject({selected: 2, selectedId: 'id-0003'})
    expect(pressKey(loaded, rows, 'x').effects).toEqual([{effect: 'connect', instanceId: 'id-0003'}])
  })

  it('applies the filter as it is typed, and esc while editing drops it', () => {
    let state = topReducer({...initialTopState, selected: 4}, {type: 'edit', mode: 'filter'})
    state = topReducer(state, {type: 'edit-text', text: 'r'})
    expect(state).toMatchObject({filter: 'r', draft: 'r', selected: 0})
    state = topReducer(state, {type: 'edit-backspace'})
    expect(state.filter).toBe('')
    expect(
      topReducer(topReducer(state, {type: 'edit-text', text: 'x'}), {type: 'edit-end', cancel: true}),
    ).toMatchObject({filter: '', editing: null})
  })

  it('answers the same state for an event that changes nothing, so nothing re-renders', () => {
    expect(topReducer(initialTopState, {type: 'say', message: null})).toBe(initialTopState)
    expect(topReducer(initialTopState, {type: 'fit', rows: 5, height: 4})).toBe(initialTopState)
  })
})
