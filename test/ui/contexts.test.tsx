import {render} from 'ink-testing-library'
import {afterEach, describe, expect, it} from 'vitest'

import {pressKey} from '../../src/ui/top/keys.js'
import {TopApp} from '../../src/ui/top/run.js'
import {initialTopState} from '../../src/ui/top/state.js'
import {FakeClient, fakeHost, fakeInstance, type, until} from './fake-client.js'

const ENTER = '\r'
const ESC = '\u001B'

let cleanup: (() => void) | undefined
afterEach(() => cleanup?.())

describe("top's context switch (:)", () => {
  it('lists the contexts with the current one marked and shows the chosen broker in the same screen', async () => {
    const prod = new FakeClient([fakeHost('prod-1')], [fakeInstance(1, {name: 'prod-cache'})])
    const staging = new FakeClient([fakeHost('stage-1')], [fakeInstance(2, {name: 'stage-db'})])
    const opened: string[] = []
    const view = render(
      <TopApp
        options={{
          client: prod,
          target: 'prod http://prod:9998',
          context: 'prod',
          readonly: false,
          color: false,
          statsIntervalMs: 60_000,
          contexts: [
            {name: 'prod', url: 'http://prod:9998'},
            {name: 'staging', url: 'http://staging:9998'},
          ],
          openContext: async (name) => {
            opened.push(name)
            return {client: staging, target: 'staging http://staging:9998', context: name}
          },
        }}
      />,
    )
    cleanup = view.unmount
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
    const view = render(
      <TopApp
        options={{
          client: prod,
          target: 'prod http://prod:9998',
          context: 'prod',
          readonly: false,
          color: false,
          statsIntervalMs: 60_000,
          contexts: [
            {name: 'prod', url: 'http://prod:9998'},
            {name: 'broken', url: 'http://broken:9998'},
          ],
          openContext: async () => {
            throw new Error('the broker refused the admin credentials')
          },
        }}
      />,
    )
    cleanup = view.unmount
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
