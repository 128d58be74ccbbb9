import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterEach, describe, expect, it, vi} from 'vitest'

import {type Heartbeats, startHeartbeats} from '../../src/agent/heartbeat.js'
import {HEARTBEAT_MISSES, placeInstance} from '../../src/broker/placement.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {hostsTable} from '../../src/cli/views.js'
import type {HostView} from '../../src/core/admin.js'
import {createLogger} from '../../src/core/log.js'
import type {Host, HostFacts} from '../../src/core/types.js'
import {openStore} from '../../src/store/index.js'
import {FakeAgent, guarded, testRegistration} from '../helpers/fake-agent.js'

const KEEPALIVE = 100

interface Beat {
  path: string
  at: number
  facts: HostFacts | null
}

/** A broker that only records the beats it gets and answers with no desired containers. */
async function fakeBroker(): Promise<{url: string; beats: Beat[]; close(): Promise<void>}> {
  const beats: Beat[] = []
  const server = http.createServer((request, response) => {
    let text = ''
    request.on('data', (chunk: Buffer) => (text += chunk.toString()))
    request.on('end', () => {
      beats.push({
        path: request.url ?? '',
        at: Date.now(),
        facts: (JSON.parse(text) as {facts: HostFacts | null}).facts,
      })
      response
        .writeHead(200, {'content-type': 'application/json'})
        .end(JSON.stringify({keepaliveMs: KEEPALIVE, installation: 'a1b2c3d4e5f6', specs: []}))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    beats,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** An engine at the agent boundary that answers, hangs or refuses, as the test says. */
class ScriptedEngine extends FakeAgent {
  mode: 'answer' | 'hang' | 'refuse' = 'answer'
  looks = 0
  private readonly hung: Array<(error: Error) => void> = []

  /** The hung calls fail at last, as dockerode's own timeout would make them. */
  release(): void {
    this.mode = 'answer'
    for (const fail of this.hung.splice(0)) fail(new Error('timed out'))
  }

  private gate<T>(answer: () => Promise<T>): Promise<T> {
    this.looks++
    if (this.mode === 'hang') return new Promise<T>((_resolve, reject) => this.hung.push(reject))
    if (this.mode === 'refuse') return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'))
    return answer()
  }

  override facts() {
    return this.gate(() => super.facts())
  }

  override list() {
    return this.gate(() => super.list())
  }
}

const registration = testRegistration('h1', KEEPALIVE)

/** The longest pause between two consecutive beats. */
const longestGap = (beats: Beat[]) => Math.max(...beats.slice(1).map((b, i) => b.at - beats[i].at))

describe('the agent heartbeats on its own schedule, whatever the engine does', () => {
  let heartbeats: Heartbeats | undefined
  let broker: Awaited<ReturnType<typeof fakeBroker>> | undefined
  let engine: ScriptedEngine | undefined
  afterEach(async () => {
    engine?.release()
    await heartbeats?.stop()
    await broker?.close()
    heartbeats = broker = undefined
  })

  const start = async (scripted: ScriptedEngine) => {
    engine = scripted
    broker = await fakeBroker()
    heartbeats = startHeartbeats({
      ...guarded(scripted),
      registration,
      brokers: [broker.url],
      token: 'unit-test-token-0123456789',
      log: createLogger('silent'),
    })
    return broker
  }

  it('an engine that never answers: the host registers and beats every keepalive, well within what marks it dead', async () => {
    const engine = new ScriptedEngine()
    engine.mode = 'hang'
    const {beats} = await start(engine)
    await vi.waitFor(() => expect(beats.length).toBeGreaterThanOrEqual(10), {timeout: 5000, interval: 20})
    expect(engine.looks).toBeGreaterThan(0)
    expect(beats[0].path).toBe('/agents/v1/register')
    expect(beats.slice(1).every((b) => b.path === '/agents/v1/heartbeat')).toBe(true)
    expect(longestGap(beats)).toBeLessThan(KEEPALIVE * HEARTBEAT_MISSES)
    // On schedule: ten beats take about ten intervals (the first waits up to one interval for the engine).
    expect(beats[9].at - beats[0].at).toBeLessThan(KEEPALIVE * 9 * 1.6)
  })

  it('an engine that answered once and then hangs: beats go on with its last facts, the engine reported slow with their age', async () => {
    const engine = new ScriptedEngine()
    const {beats} = await start(engine)
    await vi.waitFor(() => expect(beats.at(-1)?.facts?.engine?.status).toBe('ok'), {timeout: 5000, interval: 20})
    engine.mode = 'hang'
    const hungAt = Date.now()
    await vi.waitFor(() => expect(beats.at(-1)?.facts?.engine?.status).toBe('slow'), {timeout: 5000, interval: 20})
    const last = beats.at(-1)!
    expect(last.facts).toMatchObject({engineVersion: 'test', cpus: 1})
    expect(last.facts!.engine!.ageMs).toBeGreaterThanOrEqual(last.at - hungAt - KEEPALIVE * 2)
    expect(longestGap(beats.filter((b) => b.at >= hungAt))).toBeLessThan(KEEPALIVE * HEARTBEAT_MISSES)
  })

  it('an engine that refuses: beats go on and say `down` with the reason, and say `ok` once it answers again', async () => {
    const engine = new ScriptedEngine()
    const {beats} = await start(engine)
    await vi.waitFor(() => expect(beats.at(-1)?.facts?.engine?.status).toBe('ok'), {timeout: 5000, interval: 20})
    engine.mode = 'refuse'
    await vi.waitFor(
      () =>
        expect(beats.at(-1)?.facts?.engine).toMatchObject({
          status: 'down',
          error: expect.stringMatching(/does not answer: connect ENOENT/),
        }),
      {timeout: 5000, interval: 20},
    )
    const downAt = beats.length
    await vi.waitFor(() => expect(beats.length).toBeGreaterThanOrEqual(downAt + 5), {timeout: 5000, interval: 20})
    engine.mode = 'answer'
    await vi.waitFor(() => expect(beats.at(-1)?.facts?.engine?.status).toBe('ok'), {timeout: 5000, interval: 20})
  })
})

describe('a live host whose engine is down or slow', () => {
  const facts = (status: 'ok' | 'slow' | 'down', ageMs = 0): HostFacts => ({
    engineVersion: '20.10.24',
    cpus: 2,
    memoryBytes: 1e9,
    containersRunning: 1,
    registryMirrors: [],
    insecureRegistries: [],
    loggingDriver: 'json-file',
    engine: {status, ageMs, ...(status === 'down' ? {error: 'the Docker engine does not answer'} : {})},
  })
  /** Live hosts as the store has them after their agents registered with these facts. */
  const registered = async (...hosts: Array<[string, HostFacts]>): Promise<Host[]> => {
    const store = await openStore('sqlite::memory:')
    try {
      for (const [id, hostFacts] of hosts) {
        await store.upsertHost({
          id,
          serviceAddress: '10.0.0.1',
          bindAddress: '10.0.0.1',
          agentUrl: null,
          portMin: 41000,
          portMax: 41009,
          zone: null,
          labels: {},
          facts: hostFacts,
        })
      }
      return await store.listHosts()
    } finally {
      await store.close()
    }
  }
  const redis = loadCatalog().plan('9224c565-e657-4b4e-8048-c400aea5257c')!.plan
  const place = (hosts: Host[]) =>
    placeInstance(hosts, new Map(), new Map(), redis, {strategy: 'spread', keepaliveMs: 1000})

  it('takes no new instance while its engine is down, and still takes them while it is slow', async () => {
    expect(place(await registered(['a', facts('down')], ['b', facts('slow')])).id).toBe('b')
    expect(() => place([])).toThrow(/no host has registered/)
    const down = await registered(['a', facts('down')])
    expect(() => place(down)).toThrow(/none of 1 hosts is alive.*a: engine down/)
  })

  it('`dbroker hosts` shows the engine as slow or down, with the age of what it last said', () => {
    const view = (id: string, hostFacts: HostFacts): HostView => ({
      id,
      status: 'alive',
      heartbeatAgeMs: 500,
      lastHeartbeat: 0,
      serviceAddress: '10.0.0.1',
      agentUrl: null,
      portRange: [41000, 41009],
      drained: false,
      zone: null,
      instances: 0,
      facts: hostFacts,
    })
    const table = hostsTable(
      [view('a', facts('ok')), view('b', facts('slow', 4200)), view('c', facts('down', 12_000))],
      {color: false},
    )
    const rows = table.trim().split('\n').slice(1)
    expect(rows[0]).toMatch(/^a .* 20\.10\.24 /)
    expect(rows[0]).not.toMatch(/slow|down/)
    expect(rows[1]).toMatch(/20\.10\.24 \(slow 4s\)/)
    expect(rows[2]).toMatch(/20\.10\.24 \(down 12s\)/)
    expect(rows.every((r) => r.includes('alive'))).toBe(true)
  })
})
