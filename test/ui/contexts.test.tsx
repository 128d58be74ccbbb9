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

/** `top` on prod with a second context, `other`, that `openContext` opens; `known` is what the contexts file holds. */
function startOnProd(
  client: FakeClient,
  other: string,
  openContext: TopOptions['openContext'],
  known = [
    {name: 'prod', url: 'http://prod:9998'},
    {name: other, url: `http://${other}:9998`},
  ],
) {
  const view = render(
    <TopApp
      options={{
        client,
        target: 'prod http://prod:9998',
        context: 'prod',
        readonly: false,
        color: false,
        statsIntervalMs: 60_000,
        contexts: () => known,
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

  it('reads the contexts each time : opens, so one added meanwhile is offered', async () => {
    const prod = new FakeClient()
    const known = [{name: 'prod', url: 'http://prod:9998'}]
    const view = startOnProd(prod, 'unused', async () => Promise.reject(new Error('not asked')), known)
    await until(() => view.lastFrame()!.includes('inst-0002'), 5000)
    type(view, ':')
    await until(() => view.lastFrame()!.includes('Contexts (1)'))
    type(view, ESC)
    await until(() => !view.lastFrame()!.includes('Contexts (1)'))
    known.push({name: 'added-later', url: 'http://later:9998'})
    type(view, ':')
    await until(() => view.lastFrame()!.includes('Contexts (2)'))
    expect(view.lastFrame()).toMatch(/added-later\s+http:\/\/later:9998/)
  })

  it('without contexts, : says how to add one', async () => {
    expect(
      pressKey(
        initialTopState,
        {instances: [], hosts: [], logLines: [], listHeight: 5, logHeight: 5, readonly: false},
        ':',
      ).effects,
    ).toEqual([{effect: 'list-contexts'}])
    const view = startOnProd(new FakeClient(), 'unused', undefined, [])
    await until(() => view.lastFrame()!.includes('inst-0002'), 5000)
    type(view, ':')
    await until(() => view.lastFrame()!.includes('dbroker context add'))
  })
})
