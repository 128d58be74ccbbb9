import {render} from 'ink-testing-library'
import {afterEach, describe, expect, it} from 'vitest'

import {TopScreen} from '../../src/ui/top/screen.js'
import {FakeClient, fakeInstance, press, tick, until} from './fake-client.js'

const DOWN = '\u001B[B'
const ESC = '\u001B'
const ENTER = '\r'

let cleanup: (() => void) | undefined
afterEach(() => cleanup?.())

function start(client: FakeClient, props: {readonly?: boolean} = {}) {
  const view = render(<TopScreen client={client} target="test http://broker" columns={140} rows={30} statsIntervalMs={60_000} color={false} {...props} />)
  cleanup = view.unmount
  return view
}

describe('top screen keys', () => {
  it('moves with j/k and arrows, opens the detail with enter and reveals credentials with c', async () => {
    const client = new FakeClient()
    const {lastFrame, stdin} = start(client)
    await until(() => lastFrame()!.includes('inst-0002'))
    await until(() => lastFrame()!.includes('live'))
    await press(stdin, 'j', ENTER)
    await until(() => lastFrame()!.includes('Bindings (1)'))
    await until(() => lastFrame()!.includes('inst-0002'))
    expect(lastFrame()).not.toContain('hunter2secret')
    await press(stdin, 'c')
    await until(() => lastFrame()!.includes('hunter2secret'))
    await press(stdin, ESC)
    await until(() => lastFrame()!.includes('Instances (2)'))
    await press(stdin, 'k', DOWN, 'k')
  })

  it('filters with / and clears with esc; s cycles the sort', async () => {
    const client = new FakeClient(undefined, [fakeInstance(1), fakeInstance(2), fakeInstance(3)])
    const {lastFrame, stdin} = start(client)
    await until(() => lastFrame()!.includes('inst-0003'))
    await press(stdin, '/', 'r', 'e', 'd', ENTER)
    await until(() => lastFrame()!.includes('Instances (1/3)'))
    expect(lastFrame()).not.toContain('inst-0001')
    await press(stdin, ESC)
    await until(() => lastFrame()!.includes('Instances (3)'))
    await press(stdin, 's')
    await until(() => lastFrame()!.includes('sort:service'))
  })

  it('restarts and deprovisions only after y in the confirmation', async () => {
    const client = new FakeClient()
    const {lastFrame, stdin} = start(client)
    await until(() => lastFrame()!.includes('inst-0001'))
    await press(stdin, 'r')
    await until(() => lastFrame()!.includes('Restart the container of inst-0001?'))
    await press(stdin, 'n')
    expect(client.calls).not.toContain('restart id-0001')
    await press(stdin, 'r', 'y')
    await until(() => client.calls.includes('restart id-0001'))
    await press(stdin, 'd')
    await until(() => lastFrame()!.includes('Deprovision (delete data of) inst-0001?'))
    await press(stdin, 'y')
    await until(() => client.calls.includes('remove id-0001'))
  })

  it('--readonly refuses every action without asking', async () => {
    const client = new FakeClient()
    const {lastFrame, stdin} = start(client, {readonly: true})
    await until(() => lastFrame()!.includes('inst-0001'))
    await until(() => lastFrame()!.includes('read-only'))
    expect(lastFrame()).not.toContain('d deprovision')
    await press(stdin, 'd')
    await until(() => lastFrame()!.includes('read-only: deprovision is disabled'))
    await press(stdin, 'y', 'r', 'y')
    await tick(50)
    expect(client.calls.filter((c) => c.startsWith('restart') || c.startsWith('remove'))).toEqual([])
  })

  it('shows logs with follow, pause, wrap and search', async () => {
    const client = new FakeClient()
    client.logLines = ['2026-01-01T00:00:00.000000001Z booting', '2026-01-01T00:00:01.000000001Z Ready to accept connections']
    const {lastFrame, stdin} = start(client)
    await until(() => lastFrame()!.includes('inst-0001'))
    await press(stdin, 'l')
    await until(() => lastFrame()!.includes('Ready to accept connections'))
    await until(() => lastFrame()!.includes('following'))
    await press(stdin, 'f')
    await until(() => lastFrame()!.includes('paused'))
    await press(stdin, 'w', 't')
    await until(() => lastFrame()!.includes('wrap on'))
    await until(() => lastFrame()!.includes('2026-01-01T00:00:01.000'))
    await press(stdin, '/', 'r', 'e', 'a', 'd', 'y', ENTER)
    await until(() => lastFrame()!.includes('/ready: 1 match'))
    await press(stdin, ESC, ESC)
    await until(() => lastFrame()!.includes('Instances (2)'))
  })

  it('updates when the broker reports a change, and ? shows the help', async () => {
    const client = new FakeClient()
    const {lastFrame, stdin} = start(client)
    await until(() => lastFrame()!.includes('Instances (2)'))
    client.instanceList = [...client.instanceList, fakeInstance(7)]
    client.emit({kind: 'instance', id: 'id-0007', action: 'provision', state: 'ready'})
    await until(() => lastFrame()!.includes('inst-0007'))
    await press(stdin, '?')
    await until(() => lastFrame()!.includes('any key closes this help'))
    await press(stdin, 'x')
    await until(() => !lastFrame()!.includes('any key closes this help'))
  })
})
