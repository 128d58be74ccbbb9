import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterEach, describe, expect, it, vi} from 'vitest'

import {ConvergenceLoop} from '../../src/agent/convergence-loop.js'
import {GuardedAgent} from '../../src/agent/guarded-agent.js'
import {type Heartbeats, startHeartbeats} from '../../src/agent/heartbeat.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec, ContainerState} from '../../src/core/types.js'
import {containerSpec, FakeAgent, testRegistration} from '../helpers/fake-agent.js'

const log = createLogger('silent')
const KEEPALIVE = 100

const specOf = (instanceId: string, dependsOn?: string[]) => containerSpec(instanceId, dependsOn ? {dependsOn} : {})

/** An engine at the agent boundary whose convergence listing (`legacy`) can be held, to stage a race inside a pass. */
class HeldListAgent extends FakeAgent {
  private hold: {reached: () => void; release: Promise<void>} | undefined
  private releaseHold: () => void = () => undefined

  /** The next convergence listing waits until the returned release() is called; resolves `reached` once it waits. */
  holdNextPass(): {reached: Promise<void>; release: () => void} {
    let reached!: () => void
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve))
    const release = new Promise<void>((resolve) => (this.releaseHold = resolve))
    this.hold = {reached, release}
    return {reached: reachedPromise, release: () => this.releaseHold()}
  }

  override async list(options: {legacy?: boolean} = {}): Promise<ContainerState[]> {
    const hold = options.legacy ? this.hold : undefined
    if (hold) {
      this.hold = undefined
      hold.reached()
      await hold.release
    }
    return super.list()
  }
}

/** A broker whose every heartbeat answer wants `specs`. */
async function brokerWanting(specs: () => ContainerSpec[]): Promise<{url: string; close(): Promise<void>}> {
  const server = http.createServer((request, response) => {
    request.resume()
    request.on('end', () =>
      response
        .writeHead(200, {'content-type': 'application/json'})
        .end(JSON.stringify({keepaliveMs: KEEPALIVE, installation: 'a1b2c3d4e5f6', specs: specs()})),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

describe('the convergence loop and its guard', () => {
  const cleanup: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })

  it('a DELETE that lands while a heartbeat answer is being converged is not undone by that answer', async () => {
    const x = specOf('i-x')
    const engine = new HeldListAgent()
    const agent = new GuardedAgent(engine)
    const loop = new ConvergenceLoop({agent, log})
    // The broker computed its answer before the DELETE: it still wants the instance.
    const broker = await brokerWanting(() => [x])
    cleanup.push(() => broker.close())
    const held = engine.holdNextPass()
    const heartbeats: Heartbeats = startHeartbeats({
      agent,
      loop,
      registration: testRegistration('h1', KEEPALIVE),
      brokers: [broker.url],
      token: 'dbh_test',
      log,
    })
    cleanup.push(async () => {
      await heartbeats.stop()
      await loop.stop()
    })

    // The pass took the answer and lists the host; the broker's DELETE arrives now, through the agent API's agent.
    await held.reached
    await agent.remove(x.instanceId)
    const mark = engine.calls.length
    held.release()
    await loop.settled()

    expect(engine.since(mark).filter((c) => c.method === 'apply')).toEqual([])
    expect(engine.running.has(x.instanceId)).toBe(false)
  })

  it("the broker's apply clears the tombstone: a later answer brings a lost container back", async () => {
    const x = specOf('i-x')
    const engine = new FakeAgent()
    const agent = new GuardedAgent(engine)
    const loop = new ConvergenceLoop({agent, log})
    cleanup.push(() => loop.stop())

    const before = agent.currentGeneration()
    await agent.remove(x.instanceId)
    loop.want({specs: [x], asOf: before})
    await loop.settled()
    expect(engine.running.has(x.instanceId)).toBe(false)

    await agent.apply(x)
    engine.running.delete(x.instanceId) // the container is lost behind the agent's back
    loop.want({specs: [x], asOf: agent.currentGeneration()})
    await loop.settled()
    expect(engine.running.has(x.instanceId)).toBe(true)
  })

  it('desired state that arrives during a pass is converged right after it, in one more pass', async () => {
    const engine = new HeldListAgent()
    const agent = new GuardedAgent(engine)
    const loop = new ConvergenceLoop({agent, log})
    cleanup.push(() => loop.stop())
    const passes: string[][] = []
    loop.afterPass((result) => void passes.push(result.applied))

    const held = engine.holdNextPass()
    loop.want({specs: [specOf('i-a')], asOf: agent.currentGeneration()})
    await held.reached
    loop.want({specs: [specOf('i-a'), specOf('i-b')], asOf: agent.currentGeneration()})
    loop.want({specs: [specOf('i-a'), specOf('i-b'), specOf('i-c')], asOf: agent.currentGeneration()})
    held.release()
    await loop.settled()

    expect(passes).toEqual([['i-a'], ['i-b', 'i-c']])
  })

  it('a dependent is applied after its dependency within a pass', async () => {
    const order: string[] = []
    const engine = new (class extends FakeAgent {
      override async apply(spec: ContainerSpec): Promise<ContainerState> {
        // The dependency is the slow one: applied side by side, it would finish last.
        if (spec.instanceId === 'i-db') await new Promise((resolve) => setTimeout(resolve, 30))
        order.push(spec.instanceId)
        return super.apply(spec)
      }
    })()
    const agent = new GuardedAgent(engine)
    const loop = new ConvergenceLoop({agent, log})
    cleanup.push(() => loop.stop())

    loop.want({specs: [specOf('i-app', ['i-db']), specOf('i-db')], asOf: agent.currentGeneration()})
    await vi.waitFor(() => expect(order).toHaveLength(2))
    expect(order).toEqual(['i-db', 'i-app'])
  })
})
