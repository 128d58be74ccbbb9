import {render} from 'ink-testing-library'
import {afterEach, describe, expect, it} from 'vitest'

import type {HostView, InstanceView} from '../../src/core/admin.js'
import {TopScreen} from '../../src/ui/top/screen.js'
import {initialTopState, type TopState} from '../../src/ui/top/state.js'
import {
  FakeClient,
  fakeDeployed,
  fakeHost,
  fakeInstance,
  sendInputAndWaitForChange,
  tick,
  type,
  until,
} from './fake-client.js'

const DOWN = '\u001B[B'
const UP = '\u001B[A'
const ESC = '\u001B'
const ENTER = '\r'
const TAB = '\t'

let cleanup: (() => void) | undefined
afterEach(() => cleanup?.())

interface StartProps {
  readonly?: boolean
  columns?: number
  rows?: number
  onDrain?: (host: string, drained: boolean) => Promise<unknown>
  clipboard?: (text: string) => void
  initialData?: {hosts: HostView[]; instances: InstanceView[]}
  initialState?: TopState
}

function start(client: FakeClient, props: StartProps = {}) {
  const view = render(
    <TopScreen
      client={client}
      target="test http://broker"
      columns={props.columns ?? 140}
      rows={props.rows ?? 30}
      statsIntervalMs={60_000}
      color={false}
      readonly={props.readonly}
      onDrain={props.onDrain}
      clipboard={props.clipboard}
      initialData={props.initialData}
      initialState={props.initialState}
    />,
  )
  cleanup = view.unmount
  return view
}

/** The screen once the broker's data and event stream are in. */
async function started(client: FakeClient, props: StartProps = {}) {
  const view = start(client, props)
  await until(() => view.lastFrame()!.includes(client.instanceList.at(-1)!.name!) && view.lastFrame()!.includes('live'))
  return view
}

const opened = (client: FakeClient) => client.calls.filter((c) => c.startsWith('instance ')).map((c) => c.split(' ')[1])

describe('top screen keys', () => {
  it('moves with j/k and arrows, opens the detail with enter and reveals credentials with c', async () => {
    const client = new FakeClient()
    const view = await started(client)
    type(view, 'j', ENTER)
    await until(() => view.lastFrame()!.includes('Bindings (1)'))
    expect(view.lastFrame()).toMatch(/inst-0002 id-0002/)
    expect(view.lastFrame()).not.toContain('hunter2secret')
    type(view, 'c')
    await until(() => view.lastFrame()!.includes('hunter2secret'))
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Instances (2)')
    type(view, 'k', DOWN, UP, ENTER)
    await until(() => view.lastFrame()!.includes('Bindings (1)'))
    expect(view.lastFrame()).toMatch(/inst-0001 id-0001/)
    expect(opened(client).at(-1)).toBe('id-0001')
  })

  it('keys typed fast in one chunk (jjjjj) each move a row', async () => {
    const client = new FakeClient(
      undefined,
      Array.from({length: 8}, (_, n) => fakeInstance(n + 1)),
    )
    const view = await started(client)
    type(view, 'jjjjj')
    type(view, ENTER)
    await until(() => view.lastFrame()!.includes('Bindings (1)'))
    expect(view.lastFrame()).toMatch(/inst-0006 id-0006/)
  })

  it('with the hosts panel focused, enter, d and r act on the highlighted host, not on the hidden instance', async () => {
    const client = new FakeClient(
      [fakeHost('h1'), fakeHost('h2')],
      [fakeInstance(1, {hostId: 'h1'}), fakeInstance(2, {hostId: 'h2'})],
    )
    const view = await started(client)
    const focused = await sendInputAndWaitForChange(view, TAB)
    expect(focused).toContain('enter host detail')
    expect(focused).not.toContain('d deprovision')
    type(view, 'd')
    await until(() => view.lastFrame()!.includes('tab to the instances panel'))
    expect(view.lastFrame()).not.toContain('Deprovision (delete data of)')
    type(view, 'r')
    await tick(100)
    expect(view.lastFrame()).not.toContain('Restart the container of')
    type(view, 'j', ENTER)
    await until(() => view.lastFrame()!.includes('Host h2'))
    expect(view.lastFrame()).toContain('Docker 20.10.24')
    expect(view.lastFrame()).toContain('http://mirror:5000')
    expect(view.lastFrame()).toContain('json-file')
    type(view, ENTER)
    await until(() => view.lastFrame()!.includes('instances on host h2'))
    expect(view.lastFrame()).toContain('Instances (1/2)')
    expect(view.lastFrame()).not.toContain('inst-0001')
    expect(opened(client)).toEqual([])
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Instances (2)')
  })

  it('shows a loading state, not an empty broker, until the first data arrives', async () => {
    let answer!: () => void
    const client = new FakeClient()
    client.gate = new Promise((resolve) => (answer = resolve))
    const view = start(client)
    await until(() => view.lastFrame()!.includes('loading…'))
    await tick(100)
    const frame = view.lastFrame()!
    expect(frame).not.toContain('no instances yet')
    expect(frame).not.toContain('0 hosts')
    expect(frame).not.toContain('no hosts registered')
    answer()
    await until(() => view.lastFrame()!.includes('Instances (2)'))
    expect(view.lastFrame()).toContain('1 host · 2 instances')
    expect(view.lastFrame()).not.toContain('loading…')
  })

  it('draws the rows the command fetched in its first frame, then asks only for the CPU/memory sample', async () => {
    const client = new FakeClient()
    // The broker has not answered the screen's own requests yet: the first frame can only come from initialData.
    client.gate = new Promise(() => undefined)
    const asked: Array<boolean | undefined> = []
    const instances = client.instances.bind(client)
    client.instances = (options?: {stats?: boolean}) => {
      asked.push(options?.stats)
      return instances()
    }
    const view = start(client, {initialData: {hosts: client.hostList, instances: client.instanceList}})
    const first = view.frames[0]
    expect(first).toContain('inst-0001')
    expect(first).toContain('inst-0002')
    expect(first).toContain('alive')
    expect(first).toContain('1 host · 2 instances')
    expect(first).not.toContain('loading…')
    await until(() => asked.length > 0)
    expect(asked).toEqual([true])
  })

  it('filters with / and clears with esc; s cycles the sort', async () => {
    const client = new FakeClient(undefined, [fakeInstance(1), fakeInstance(2), fakeInstance(3)])
    const view = await started(client)
    type(view, '/', 'r', 'e', 'd', ENTER)
    await until(() => view.lastFrame()!.includes('Instances (1/3)'))
    expect(view.lastFrame()).not.toContain('inst-0001')
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Instances (3)')
    expect(await sendInputAndWaitForChange(view, 's')).toContain('SERVICE▲')
  })

  it('sorts by a column picked with its letter, reverses on the second press, and marks it in the header', async () => {
    // cpu is n % 10: inst-0003 is the busiest, inst-0001 the idlest.
    const client = new FakeClient(undefined, [fakeInstance(1), fakeInstance(3), fakeInstance(2)])
    const view = await started(client)
    const order = (frame: string) => [...frame.matchAll(/inst-000(\d)/g)].map((m) => m[1]).join('')
    expect(order(view.lastFrame()!)).toBe('123')
    let frame = await sendInputAndWaitForChange(view, 'C')
    expect(frame).toContain('CPU▼')
    expect(order(frame)).toBe('321')
    frame = await sendInputAndWaitForChange(view, 'C')
    expect(frame).toContain('CPU▲')
    expect(order(frame)).toBe('123')
    frame = await sendInputAndWaitForChange(view, 'N')
    expect(frame).toContain('Instances (3)▲')
    expect(frame).not.toContain('CPU▲')
  })

  it('at 80x24 keeps NAME, HEALTH, ENDPOINT, RST, CPU and MEM, drops the rest, and the footer keeps help and quit', async () => {
    const client = new FakeClient(undefined, [fakeInstance(1), fakeInstance(2)])
    const view = await started(client, {columns: 80, rows: 24})
    const lines = view.lastFrame()!.split('\n')
    expect(lines.length).toBeLessThanOrEqual(24)
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)
    const header = lines.find((l) => l.includes('Instances (2)'))!
    for (const column of ['HEALTH', 'ENDPOINT', 'RST', 'CPU', 'MEM']) expect(header).toContain(column)
    expect(header).not.toContain('SERVICE')
    expect(header).not.toContain('CPU HISTORY')
    const row = lines.find((l) => l.includes('inst-0001'))!
    expect(row).toMatch(/inst-0001\s+healthy\s+127\.0\.0\.1:40001\s+1\s+1m\s+1\.0%\s+2\.0M/)
    // The hosts header stays on one line: nothing of it wraps onto the next.
    const hosts = lines.findIndex((l) => l.includes('Hosts (1)'))
    expect(lines[hosts + 1]).toContain('local')
    expect(lines.at(-1)).toContain('? help')
    expect(lines.at(-1)).toContain('q quit')
  })

  it('the help fits 80x24 whole, and scrolls with j/k where the terminal is shorter', async () => {
    const view = await started(new FakeClient(), {columns: 80, rows: 24})
    const help = (await sendInputAndWaitForChange(view, '?')).split('\n')
    expect(help.length).toBeLessThanOrEqual(24)
    for (const line of help) expect(line.length).toBeLessThanOrEqual(80)
    for (const key of ['enter', 'N V O H C M R A', 'q, ctrl-c']) expect(help.some((l) => l.includes(key))).toBe(true)
    expect(help.join('\n')).toContain('any key closes this help')
    expect(help.filter(Boolean).at(-1)).toContain('q quit')
    cleanup?.()

    const short = await started(new FakeClient(), {columns: 80, rows: 14})
    const top = await sendInputAndWaitForChange(short, '?')
    expect(top.split('\n').length).toBeLessThanOrEqual(14)
    expect(top).toContain('↑↓ jk')
    expect(top).not.toContain('q, ctrl-c')
    expect(top).toMatch(/lines 1-\d+ of 18 · j\/k scroll/)
    type(short, ...'jjjjjjjjjj')
    await until(() => short.lastFrame()!.includes('q, ctrl-c'))
    expect(short.lastFrame()).not.toContain('↑↓ jk')
    expect(await sendInputAndWaitForChange(short, 'x')).not.toContain('j/k scroll')
  })

  it('a click on a row selects it and enter opens it; the wheel scrolls', async () => {
    const client = new FakeClient(undefined, [fakeInstance(1), fakeInstance(2), fakeInstance(3)])
    const view = await started(client)
    const lines = view.lastFrame()!.split('\n')
    const row = lines.findIndex((l) => l.includes('inst-0003')) + 1
    type(view, `\u001B[<0;5;${row}M`)
    type(view, ENTER)
    await until(() => opened(client).includes('id-0003') && view.lastFrame()!.includes('Bindings (1)'))
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Instances (3)')
    type(view, '\u001B[<64;5;5M', ENTER)
    // The detail refetches as data arrives: what counts is which instance each open showed.
    await until(() => opened(client).at(-1) === 'id-0001')
    expect([...new Set(opened(client))]).toEqual(['id-0003', 'id-0001'])
  })

  it('back from x (the state it left, the data loading again), the selection is on the same instance', async () => {
    const four = () =>
      new FakeClient(
        [fakeHost()],
        [1, 2, 3, 4].map((n) => fakeInstance(n)),
      )
    const client = four()
    const first = await started(client)
    let left: TopState | undefined
    first.rerender(
      <TopScreen
        client={client}
        target="test http://broker"
        columns={140}
        rows={30}
        statsIntervalMs={60_000}
        color={false}
        onConnect={(_id, state) => (left = state)}
      />,
    )
    type(first, 'j', 'j', 'x')
    await until(() => left !== undefined)
    first.unmount()
    const back = four()
    let answer = () => {}
    back.gate = new Promise((resolve) => (answer = resolve))
    const again = start(back, {initialState: {...left!, message: 'back from the client'}})
    await until(() => again.lastFrame()!.includes('loading'))
    answer()
    await until(() => again.lastFrame()!.includes('inst-0004'))
    type(again, ENTER)
    await until(() => again.lastFrame()!.includes('Bindings (1)'))
    expect(again.lastFrame()).toMatch(/inst-0003 id-0003/)
    expect(initialTopState.selectedId).toBeNull()
  })

  it('esc and tab in one chunk (typed fast, or a macro) are two keys: the detail closes and tab moves the focus', async () => {
    const client = new FakeClient()
    const view = await started(client)
    type(view, ENTER)
    await until(() => view.lastFrame()!.includes('Bindings (1)'))
    type(view, ESC + TAB)
    await until(() => view.lastFrame()!.includes('host detail'))
    expect(view.lastFrame()).toContain('Instances (2)')
  })

  it('at 80 columns a sort by a dropped column (SERVICE, HOST) shows in the header', async () => {
    const client = new FakeClient()
    const view = await started(client, {columns: 80, rows: 24})
    expect(view.lastFrame()!.split('\n')[0]).not.toContain('sort:')
    type(view, 'V')
    await until(() => view.lastFrame()!.split('\n')[0].includes('sort: service▲'))
    type(view, 'V')
    await until(() => view.lastFrame()!.split('\n')[0].includes('sort: service▼'))
    type(view, 'C')
    await until(() => !view.lastFrame()!.split('\n')[0].includes('sort:'))
    expect(view.lastFrame()).toMatch(/CPU▼/)
  })

  it('e shows the change events newest first, by instance name, filtered with /', async () => {
    const client = new FakeClient()
    const view = await started(client)
    client.emit({kind: 'instance', id: 'id-0001', action: 'provision', state: 'ready'})
    client.emit({kind: 'binding', id: 'b-1', instanceId: 'id-0002', action: 'bind', state: 'bound'})
    client.emit({kind: 'host', id: 'local', action: 'heartbeat', state: 'dead'})
    type(view, 'e')
    await until(() => view.lastFrame()!.includes('Events (3)'))
    const frame = view.lastFrame()!
    const at = (pattern: RegExp) => frame.search(pattern)
    expect(at(/host +local heartbeat -> dead/)).toBeGreaterThan(0)
    expect(at(/binding +b-1 \(of inst-0002\) bind -> bound/)).toBeGreaterThan(at(/host +local/))
    expect(at(/instance +inst-0001 provision -> ready/)).toBeGreaterThan(at(/binding +b-1/))
    expect(frame).not.toContain('id-000')
    type(view, '/', 'h', 'o', 's', 't', ENTER)
    await until(() => view.lastFrame()!.includes('Events (1/3)'))
    expect(view.lastFrame()).not.toContain('inst-0001')
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Events (3)')
  })

  it('the events view scrolls: j and G reach events below the window, g comes back to the newest', async () => {
    const client = new FakeClient()
    client.recent = Array.from({length: 40}, (_, n) => ({
      kind: 'instance' as const,
      id: `ev-${String(n).padStart(2, '0')}`,
      action: 'provision',
      state: 'ready',
      at: n + 1,
    }))
    const view = await started(client, {columns: 80, rows: 24})
    type(view, 'e')
    await until(() => view.lastFrame()!.includes('Events (40)'))
    expect(view.lastFrame()).toContain('ev-39')
    expect(view.lastFrame()).not.toContain('ev-00')
    type(view, 'j', 'j')
    await until(() => !view.lastFrame()!.includes('ev-39'))
    expect(view.lastFrame()).toContain('3-')
    type(view, 'G')
    await until(() => view.lastFrame()!.includes('ev-00'))
    expect(view.lastFrame()).toContain('of 40')
    type(view, 'g')
    await until(() => view.lastFrame()!.includes('ev-39'))
  })

  it('e opens with the changes the broker saw before top started, below those that arrived since', async () => {
    const client = new FakeClient()
    client.recent = [
      {kind: 'instance', id: 'id-0001', action: 'provision', state: 'ready', at: 1},
      {kind: 'binding', id: 'b-9', instanceId: 'id-0001', action: 'bind', state: 'bound', at: 2},
    ]
    const view = await started(client)
    client.emit({kind: 'host', id: 'local', action: 'drain', state: 'drained'})
    type(view, 'e')
    await until(() => view.lastFrame()!.includes('Events (3)'))
    const frame = view.lastFrame()!
    expect(frame.search(/binding +b-9/)).toBeGreaterThan(frame.search(/host +local drain/))
    expect(frame.search(/instance +inst-0001 provision/)).toBeGreaterThan(frame.search(/binding +b-9/))
  })

  it('D on a host drains it after y, and the host view says what it will do', async () => {
    const client = new FakeClient([fakeHost('h1'), fakeHost('h2', {drained: true})])
    const drains: string[] = []
    const view = await started(client, {onDrain: async (host, on) => drains.push(`${host} ${on}`)})
    type(view, TAB, 'D')
    await until(() => view.lastFrame()!.includes('Drain (no new instances on) host h1?'))
    type(view, 'y')
    await until(() => view.lastFrame()!.includes('h1: drained'))
    type(view, 'j', ENTER)
    await until(() => view.lastFrame()!.includes('Host h2'))
    expect(view.lastFrame()).toContain('D undrains')
    type(view, 'D')
    await until(() => view.lastFrame()!.includes('Undrain (take new instances again on) host h2?'))
    type(view, 'y')
    await until(() => drains.length === 2)
    expect(drains).toEqual(['h1 true', 'h2 false'])
  })

  it("y in the detail view puts the highlighted binding's URI on the clipboard, not on the screen", async () => {
    const client = new FakeClient()
    const copied: string[] = []
    const view = await started(client, {clipboard: (text) => copied.push(text)})
    type(view, ENTER)
    await until(() => view.lastFrame()!.includes('Bindings (1)'))
    type(view, 'y')
    await until(() => view.lastFrame()!.includes('copied the URI of binding b-1'))
    expect(copied).toEqual(['redis://bob:hunter2secret@127.0.0.1:40001'])
    expect(view.lastFrame()).not.toContain('hunter2secret')
  })

  it('restarts and deprovisions only after y in the confirmation', async () => {
    const client = new FakeClient()
    const view = await started(client)
    expect(await sendInputAndWaitForChange(view, 'r')).toContain('Restart the container of inst-0001?')
    expect(await sendInputAndWaitForChange(view, 'n')).toContain('cancelled')
    expect(client.calls).not.toContain('restart id-0001')
    type(view, 'r', 'y')
    await until(() => client.calls.includes('restart id-0001'))
    expect(await sendInputAndWaitForChange(view, 'd')).toContain('Deprovision (delete data of) inst-0001?')
    type(view, 'y')
    await until(() => client.calls.includes('remove id-0001'))
  })

  it('--readonly refuses every action without asking, and keeps credentials hidden', async () => {
    const client = new FakeClient()
    const view = await started(client, {readonly: true})
    expect(view.lastFrame()).toContain('read-only')
    expect(view.lastFrame()).not.toContain('d deprovision')
    expect(await sendInputAndWaitForChange(view, 'd')).toContain('read-only: deprovision is disabled')
    type(view, 'y', 'r', 'y', ENTER)
    await until(() => view.lastFrame()!.includes('Bindings (1)'))
    expect(await sendInputAndWaitForChange(view, 'c')).toContain('read-only: credentials stay hidden')
    // Nothing may happen: a fixed wait is the only way to see that.
    await tick(100)
    expect(view.lastFrame()).not.toContain('hunter2secret')
    expect(
      client.calls.filter((c) => c.startsWith('restart') || c.startsWith('remove') || c.endsWith('credentials')),
    ).toEqual([])
  })

  it('shows logs with follow, pause, wrap and search', async () => {
    const client = new FakeClient()
    client.logLines = [
      '2026-01-01T00:00:00.000000001Z booting',
      '2026-01-01T00:00:01.000000001Z Ready to accept connections',
    ]
    const view = await started(client)
    type(view, 'l')
    await until(
      () => view.lastFrame()!.includes('Ready to accept connections') && view.lastFrame()!.includes('following'),
    )
    expect(await sendInputAndWaitForChange(view, 'f')).toContain('paused')
    type(view, 'w', 't')
    await until(() => view.lastFrame()!.includes('wrap on') && view.lastFrame()!.includes('2026-01-01T00:00:01.000'))
    type(view, '/', 'r', 'e', 'a', 'd', 'y', ENTER)
    await until(() => view.lastFrame()!.includes('/ready: 1 match'))
    // Two escapes in one chunk read as one key (alt-escape), as in a terminal: each waits for its frame.
    expect(await sendInputAndWaitForChange(view, ESC)).not.toContain('/ready')
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Instances (2)')
  })

  it('updates when the broker reports a change, and ? shows the help', async () => {
    const client = new FakeClient()
    const view = await started(client)
    client.instanceList = [...client.instanceList, fakeInstance(7)]
    client.emit({kind: 'instance', id: 'id-0007', action: 'provision', state: 'ready'})
    await until(() => view.lastFrame()!.includes('inst-0007'))
    expect(await sendInputAndWaitForChange(view, '?')).toContain('any key closes this help')
    expect(await sendInputAndWaitForChange(view, 'x')).not.toContain('any key closes this help')
  })
})

describe("a manifest's container (dbroker deploy) in the list", () => {
  /** The list sorted by name puts `cache` first, above the instances. */
  const deployedFirst = () => new FakeClient(undefined, [fakeInstance(1), fakeDeployed('cache')])

  it('enter shows its deployment, host, container, image, ports, dependencies and volumes, not an instance detail', async () => {
    const client = deployedFirst()
    const view = await started(client)
    type(view, ENTER)
    await until(() => view.lastFrame()!.includes('dbroker.shop.cache'))
    const frame = view.lastFrame()!
    expect(frame).toContain('shop/cache deploy:shop:local:cache')
    expect(frame).toMatch(/deployment\s+shop \(deploy state ready/)
    expect(frame).toMatch(/host\s+local/)
    expect(frame).toMatch(/image\s+dbroker\/redis:7/)
    expect(frame).toContain('127.0.0.1:41000→6379/tcp')
    expect(frame).toMatch(/depends on\s+db/)
    expect(frame).toContain('dbroker-shop-cache-data:/data, /srv/conf:/etc/redis:ro')
    expect(frame).toMatch(/restarts \d, last exit -, up 9m/)
    expect(frame).toMatch(/usage\s+cpu 3.5%, memory 5(\.0)?M/)
    expect(frame).not.toContain('Bindings')
    // The footer offers what works on it: no binding to pick or copy, no deprovision.
    expect(frame).toContain('l logs')
    expect(frame).not.toContain('copy URI')
    expect(frame).not.toContain('d deprovision')
    expect(client.calls).toContain('deployed deploy:shop:local:cache')
    expect(opened(client)).toEqual([])
    expect(await sendInputAndWaitForChange(view, 'c')).toContain('a deployed container has no bindings')
    // l streams its logs (the admin route takes its deploy: id), titled by deployment and container.
    client.logLines = ['Ready to accept connections tcp']
    type(view, 'l')
    await until(() => view.lastFrame()!.includes('Ready to accept connections'))
    expect(view.lastFrame()).toContain('Logs: shop/cache')
    type(view, ESC)
    await until(() => view.lastFrame()!.includes('dbroker.shop.cache'))
    expect(await sendInputAndWaitForChange(view, ESC)).toContain('Instances (2)')
  })

  it('x says it has no binding to connect with, in the list and in its detail, and connects to nothing', async () => {
    const client = deployedFirst()
    const view = await started(client)
    const said = await sendInputAndWaitForChange(view, 'x')
    expect(said).toContain('shop/cache is a deployed container: it has no binding to connect with')
    expect(said).not.toContain('cannot open a client')
    type(view, ENTER)
    await until(() => view.lastFrame()!.includes('dbroker.shop.cache'))
    expect(await sendInputAndWaitForChange(view, 'x')).toContain('it has no binding to connect with')
    expect(opened(client)).toEqual([])
  })

  it('d refuses without asking and names `dbroker deploy delete shop`; r restarts it by its id after y', async () => {
    const client = deployedFirst()
    const view = await started(client, {columns: 160})
    const said = await sendInputAndWaitForChange(view, 'd')
    expect(said).toContain("shop/cache is deployment shop's: `dbroker deploy delete shop` removes it all")
    expect(said).not.toContain('Deprovision (delete data of)')
    type(view, 'y')
    await tick(100)
    expect(client.calls.filter((c) => c.startsWith('remove'))).toEqual([])
    expect(await sendInputAndWaitForChange(view, 'r')).toContain('Restart the container of shop/cache?')
    type(view, 'y')
    await until(() => client.calls.includes('restart deploy:shop:local:cache'))
    // The instance below it still deprovisions as before.
    type(view, 'j', 'd')
    await until(() => view.lastFrame()!.includes('Deprovision (delete data of) inst-0001?'))
  })
})

describe('the log view through a broker restart', () => {
  it('says the stream ended and is reconnecting, then follows the new lines once the broker is back', async () => {
    const client = new FakeClient()
    client.logLines = ['2026-01-01T00:00:00.000000001Z before the restart']
    const view = await started(client)
    type(view, 'l')
    await until(() => view.lastFrame()!.includes('before the restart') && view.lastFrame()!.includes('following'))
    client.logsDown = true
    client.endLogStreams()
    await until(() => view.lastFrame()!.includes('stream ended · reconnecting'), 3000)
    expect(view.lastFrame()).not.toMatch(/following/)
    client.logLines = ['2026-01-01T00:00:09.000000001Z after the restart']
    client.logsDown = false
    await until(() => view.lastFrame()!.includes('after the restart') && view.lastFrame()!.includes('following'), 5000)
    expect(view.lastFrame()).toContain('before the restart')
  })
})

describe('rows through a broker outage', () => {
  it('marks every row stale while the broker is unreachable, and clears it once it answers again', async () => {
    const client = new FakeClient()
    const view = await started(client)
    expect(view.lastFrame()).not.toContain('STALE')
    client.down = true
    client.endEventStreams()
    await until(() => view.lastFrame()!.includes('STALE: rows show the last state seen'), 3000)
    const frame = view.lastFrame()!
    expect(frame).toMatch(/inst-0001 .*healthy\?/)
    expect(frame).not.toMatch(/inst-0001 .*healthy /)
    client.down = false
    await until(() => !view.lastFrame()!.includes('STALE') && view.lastFrame()!.includes('live'), 5000)
    expect(view.lastFrame()).toMatch(/inst-0001 .*healthy /)
  })

  it('the host row is marked stale too, and its beat age counts on from the last answer', async () => {
    const client = new FakeClient([fakeHost('local', {heartbeatAgeMs: 2000})])
    const view = await started(client)
    expect(view.lastFrame()).toMatch(/local +alive +2s/)
    client.down = true
    client.endEventStreams()
    await until(() => view.lastFrame()!.includes('STALE'), 3000)
    expect(view.lastFrame()).toMatch(/local +alive\? /)
    // The broker's last figure was 2 s: the screen's clock carries it on, it never reads younger.
    await until(() => /local +alive\? +[4-9]s/.test(view.lastFrame()!), 5000)
    client.down = false
    await until(() => /local +alive +2s/.test(view.lastFrame()!), 5000)
  })
})
