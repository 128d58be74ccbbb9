import {render} from 'ink-testing-library'
import {afterEach, describe, expect, it} from 'vitest'

import {pressKey} from '../../src/ui/top/keys.js'
import {TopApp, type TopOptions} from '../../src/ui/top/run.js'
import {initialTopState} from '../../src/ui/top/state.js'
import {FakeClient, fakeHost, fakeInstance, type, until} from './fake-client.js'

const ENTER = '\r'
const ESC = '\u001B'

let cleanup: (() => void) | undefined
afterEach(() => cleanup?.())

/** `top` on prod with a second context, `other`, that `openContext` opens. */
function startOnProd(client: FakeClient, other: string, openContext: TopOptions['openContext']) {
  const view = render(
    <TopApp
      options={{
        client,
        target: 'prod http://prod:9998',
        context: 'prod',
        readonly: false,
        color: false,
        statsIntervalMs: 60_000,
        contexts: [
          {name: 'prod', url: 'http://prod:9998'},
          {name: other, url: `http://${other}:9998`},
        ],
        openContext,
      }}
    />,
  )
  cleanup = view.unmount
  return view
}

describe("top's context switch (:)", () => {
  it('lists the contexts with the current one marked and shows the chosen broker in the same screen', async () => {
    const prod = new FakeClient([fakeHost('prod-1')], [fakeInstance(1, {name: 'prod-cache'})])
    const staging = new FakeClient([fakeHost('stage-1')], [fakeInstance(2, {name: 'stage-db'})])
    const opened: string[] = []
    const view = startOnProd(prod, 'staging', async (name) => {
      opened.push(name)
      return {client: staging, target: 'staging http://staging:9998', context: name}
    })
    await until(() => view.lastFrame()!.includes('prod-cache'), 5000)
    type(view, ':')
    await until(() => view.lastFrame()!.includes('Contexts (2)'))
    expect(view.lastFrame()).toMatch(/\* prod\s+http:\/\/prod:9998/)
    type(view, 'j', ENTER)
    await until(() => view.lastFrame()!.includes('stage-db'), 5000)
    expect(view.lastFrame()).toContain('staging http://staging:9998')
    expect(view.lastFrame()).not.toContain('prod-cache')
    expect(opened).toEqual(['staging'])
  })

  it('a context whose broker refuses stays unswitched and says why; esc leaves the list', async () => {
    const prod = new FakeClient()
    const view = startOnProd(prod, 'broken', async () => {
      throw new Error('the broker refused the admin credentials')
    })
    await until(() => view.lastFrame()!.includes('inst-0002'), 5000)
    type(view, ':')
    await until(() => view.lastFrame()!.includes('Contexts (2)'))
    type(view, 'j', ENTER)
    await until(() => view.lastFrame()!.includes('context broken: the broker refused the admin credentials'))
    expect(view.lastFrame()).toContain('prod http://prod:9998')
    type(view, ':')
    await until(() => view.lastFrame()!.includes('Contexts (2)'))
    type(view, ESC)
    await until(() => !view.lastFrame()!.includes('Contexts (2)'))
  })

  it('without contexts, : says how to add one', () => {
    const env = {instances: [], hosts: [], logLines: [], listHeight: 5, logHeight: 5, readonly: false}
    expect(pressKey(initialTopState, env, ':').state.message).toContain('dbroker context add')
  })
})
