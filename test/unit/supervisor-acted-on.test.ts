import {PassThrough} from 'node:stream'

import {afterEach, describe, expect, it} from 'vitest'

import {ConvergenceLoop} from '../../src/agent/convergence-loop.js'
import {GuardedAgent} from '../../src/agent/guarded-agent.js'
import {Supervisor} from '../../src/agent/supervisor.js'
import {createLogger} from '../../src/core/log.js'
import type {Engine} from '../../src/docker/engine.js'
import {LABEL_INSTALLATION, LABEL_INSTANCE} from '../../src/docker/engine.js'
import {containerSpec, FakeAgent} from '../helpers/fake-agent.js'
import {until} from '../helpers/until.js'

const INSTALLATION = 'a1b2c3d4e5f6'
const ID = 'i-crashy'
const log = createLogger('silent')

/** The engine's event stream at the boundary: what a test writes is what the supervisor reads. */
class FakeEvents {
  stream: PassThrough | undefined
  readonly engine = {
    getEvents: async () => (this.stream = new PassThrough()),
    getContainer: () => ({
      inspect: async () => ({State: {Running: true, Restarting: false, StartedAt: new Date().toISOString()}}),
    }),
  } as unknown as Engine

  emit(action: string, attributes: Record<string, string> = {}): void {
    const event = {
      Type: 'container',
      Action: action,
      Actor: {ID: 'c1', Attributes: {[LABEL_INSTANCE]: ID, [LABEL_INSTALLATION]: INSTALLATION, ...attributes}},
      timeNano: Date.now() * 1e6 + 1,
    }
    this.stream!.write(`${JSON.stringify(event)}\n`)
  }
}

/** An engine whose restart stops the container (its die), starts it and then, with `crash`, has it die again at once. */
class RestartingAgent extends FakeAgent {
  constructor(
    private readonly events: FakeEvents,
    private readonly seen: (exitCode: number) => Promise<unknown>,
    readonly crash: {code?: number; unhealthyWhileStopping?: boolean},
  ) {
    super()
  }

  override async restart(): Promise<void> {
    // A container too busy to stop at SIGTERM (a tenant's endless script) fails its health check meanwhile.
    if (this.crash.unhealthyWhileStopping) this.events.emit('health_status: unhealthy')
    this.events.emit('kill', {signal: '15'})
    this.events.emit('die', {exitCode: '143'})
    await this.seen(143)
    this.events.emit('start')
    if (this.crash.code !== undefined) {
      this.events.emit('die', {exitCode: String(this.crash.code)})
      await this.seen(this.crash.code)
    }
  }
}

describe("the supervisor and the agent's own restarts", () => {
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop()
  })

  async function supervised(crash: {code?: number; unhealthyWhileStopping?: boolean}) {
    const events = new FakeEvents()
    let supervisor!: Supervisor
    const lastExit = () =>
      supervisor.annotate({
        instanceId: ID,
        containerId: 'c1',
        name: ID,
        image: 'x',
        status: 'running',
        health: 'none',
        restartCount: 0,
      }).lastExitCode
    const seen = (code: number) => until(`the supervisor saw exit ${code}`, () => lastExit() === code, 2000)
    const agent = new GuardedAgent(new RestartingAgent(events, seen, crash))
    const loop = new ConvergenceLoop({agent, log})
    supervisor = new Supervisor({engine: events.engine, agent, loop, log})
    agent.describeWith(supervisor)
    stops.push(
      () => supervisor.stop(),
      () => loop.stop(),
    )
    // No restarts allowed: the first death that counts makes it failing.
    loop.want({
      specs: [containerSpec(ID, {restart: 'always', supervision: {maxRestarts: 0, windowMs: 60_000}})],
      asOf: agent.currentGeneration(),
    })
    await loop.settled()
    supervisor.watch(INSTALLATION)
    await until('the supervisor follows the events', () => events.stream)
    return {agent, supervisor}
  }

  it("the stop of the agent's own restart is no failure", async () => {
    const {agent, supervisor} = await supervised({})
    await agent.restart(ID)
    expect(supervisor.failing(ID)).toBe(false)
  })

  it("a health check failed while the agent's own restart stops the container is no failure", async () => {
    const {agent, supervisor} = await supervised({unhealthyWhileStopping: true})
    await agent.restart(ID)
    expect(supervisor.failing(ID)).toBe(false)
  })

  it('a death after the restart started the container, while the restart is still going, counts', async () => {
    const {agent, supervisor} = await supervised({code: 3})
    await agent.restart(ID)
    expect(supervisor.failing(ID)).toBe(true)
    expect(supervisor.held(ID)).toBe(true)
  })
})
