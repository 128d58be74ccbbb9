import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'

import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type MultiHost, PORTS, startMultiHost, type TestHost} from '../helpers/multihost.js'
import {ORG, REDIS, testId} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const KEEPALIVE_MS = 1000

const inNs = (host: TestHost, ...command: string[]) =>
  execFileSync('nsenter', [`--net=/run/netns/${host.netns}`, ...command], {encoding: 'utf8', stdio: 'pipe'})
/** The broker's calls to the agent's API are dropped inside the host; its heartbeats to the broker still flow. */
const dropInbound = (host: TestHost, on: boolean) =>
  inNs(host, 'iptables', on ? '-A' : '-D', 'INPUT', '-p', 'tcp', '--dport', String(PORTS.agent), '-j', 'DROP')
const hostLink = (host: TestHost) => inNs(host, 'ip', '-o', 'link').match(/\d+: (edbmh[^:@]+)/)![1]
/** The host's link down: nothing either way. Up again, it gets its default route back. */
const cutLink = (host: TestHost, cut: boolean) => {
  const link = hostLink(host)
  inNs(host, 'ip', 'link', 'set', link, cut ? 'down' : 'up')
  if (!cut) inNs(host, 'ip', 'route', 'replace', 'default', 'via', host.gateway)
}

const containerIds = async (host: TestHost) =>
  (await host.docker.listContainers({all: true, filters: {label: ['dbroker.instance']}})).map((c) => c.Id).sort()

/** What bench/partitions.mjs reads back: each story's timings, written when DBROKER_BENCH_OUT names a file. */
const measured: Record<string, number> = {}

describe('partitions between the broker and one host', () => {
  let m: MultiHost
  let db: pg.Pool
  const healers: Array<() => void> = []
  const onHost = async (hostId: string) =>
    (await db.query<{id: string}>('select id from instances where host_id = $1 order by id', [hostId])).rows.map(
      (r) => r.id,
    )
  const statusOf = async (hostId: string) =>
    (await m.adminHosts()).find((h) => h.id === hostId) as
      {status: string; reachability?: {direction: string; reason: string}} | undefined

  beforeAll(async () => {
    m = await startMultiHost({hosts: 2, brokers: 1, keepalive: '1s'})
    db = new pg.Pool({connectionString: m.postgresUrl, max: 2})
    const ids = [testId(), testId(), testId(), testId()]
    const started = await Promise.all(ids.map((id) => m.osb().provision(id, {...REDIS, ...ORG}, true)))
    for (const [i, id] of ids.entries())
      expect((await m.osb().waitFor(id, started[i].body.operation)).body.state).toBe('succeeded')
    expect(await onHost('host-1')).toHaveLength(2)
  }, 240_000)
  afterAll(async () => {
    for (const heal of healers.splice(0)) {
      try {
        heal()
      } catch {
        // already healed
      }
    }
    await db?.end()
    await m?.teardown()
    if (process.env.DBROKER_BENCH_OUT) writeFileSync(process.env.DBROKER_BENCH_OUT, JSON.stringify(measured))
  })

  it('inbound to the agent dropped, heartbeats flowing: sync binds answer 503 in < 10 s naming host and direction, new instances go elsewhere, nothing half made; healed, the probe brings it back', async () => {
    const host = m.hosts[0]
    const instance = (await onHost('host-1'))[0]
    const bindingsBefore = (await db.query('select id from bindings')).rowCount
    const droppedAt = Date.now()
    dropInbound(host, true)
    healers.push(() => dropInbound(host, false))

    // Binds take a spare user without calling the agent while there are some: bind until one needs the agent.
    const waits: number[] = []
    let refused: {status: number; body: {description?: string}} | undefined
    for (let i = 0; i < 8 && !refused; i++) {
      const startedAt = Date.now()
      const answer = await m.osb().bind(instance, testId('b'), {...REDIS})
      waits.push(Date.now() - startedAt)
      if (answer.status !== 201) refused = answer
    }
    expect(refused?.status).toBe(503)
    measured['inbound drop: detection by a failed call'] = Date.now() - droppedAt
    measured['inbound drop: longest sync wait'] = Math.max(...waits)
    expect(refused?.body.description).toMatch(/host host-1 is unreachable.*broker -> agent/)
    expect(Math.max(...waits)).toBeLessThan(10_000)
    expect(await statusOf('host-1')).toMatchObject({status: 'unreachable', reachability: {direction: 'out'}})
    expect(m.cli(['hosts'])).toMatch(/host-1\s+unreachable \(out\)/)

    // Once known unreachable, a sync request for it answers at once.
    const again = Date.now()
    expect((await m.osb().bind(instance, testId('b'), {...REDIS})).status).toBe(503)
    expect(Date.now() - again).toBeLessThan(1000)

    const fresh = [testId(), testId()]
    for (const id of fresh) expect((await m.osb().provision(id, {...REDIS, ...ORG})).status).toBe(201)
    expect(await onHost('host-2')).toEqual(expect.arrayContaining(fresh))

    const listed = (
      await m
        .admin()
        .request<Array<{id: string; hostId: string; container: {status: string} | null}>>(
          'GET',
          '/admin/v1/instances?stats=false',
        )
    ).body
    for (const view of listed.filter((i) => i.hostId === 'host-1')) expect(view.container?.status).toBe('unknown')

    const healedAt = Date.now()
    dropInbound(host, false)
    healers.pop()
    await until('host-1 reachable', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 10_000,
      everyMs: 50,
    })
    measured['inbound drop: rejoin after the heal'] = Date.now() - healedAt
    expect(Date.now() - healedAt).toBeLessThan(2 * KEEPALIVE_MS)
    // The refused binds left no row behind (the 201s did: they are bound).
    const bound = waits.length - 1
    expect((await db.query('select id from bindings')).rowCount).toBe((bindingsBefore ?? 0) + bound)
    expect(m.logs()).toMatch(/host host-1 is unreachable from the broker \(broker -> agent\)/)
  }, 120_000)

  it('a cut during an async provision: it completes after the heal, and no container is recreated', async () => {
    const host = m.hosts[0]
    expect(JSON.parse(m.cli(['hosts', 'drain', 'host-2', '--json'])).result.drained).toBe(true)
    try {
      const before = await containerIds(host)
      const id = testId()
      const started = await m.osb().provision(id, {...REDIS, ...ORG}, true)
      expect(started.status).toBe(202)
      cutLink(host, true)
      healers.push(() => cutLink(host, false))
      await until('host-1 dead', async () => (await statusOf('host-1'))?.status === 'dead', 15_000)
      cutLink(host, false)
      healers.pop()
      expect((await m.osb().waitFor(id, started.body.operation, undefined, 60_000)).body.state).toBe('succeeded')
      expect(await onHost('host-1')).toContain(id)
      const after = await containerIds(host)
      expect(after.filter((c) => before.includes(c))).toEqual(before)
      expect(after).toHaveLength(before.length + 1)
    } finally {
      m.cli(['hosts', 'undrain', 'host-2'])
    }
  }, 120_000)

  it('a long cut: status texts stay true while it lasts, and the host is alive again < 2 keepalives after the heal', async () => {
    const host = m.hosts[0]
    const instance = (await onHost('host-1'))[0]
    const before = await containerIds(host)
    const cutAt = Date.now()
    cutLink(host, true)
    healers.push(() => cutLink(host, false))
    await until('host-1 dead', async () => (await statusOf('host-1'))?.status === 'dead', {
      timeoutMs: 15_000,
      everyMs: 50,
    })
    measured['link down: detection by heartbeat loss'] = Date.now() - cutAt
    // Dead by heartbeats first, then the probe's failure adds the broker's direction.
    await until(
      'host-1 dead both ways',
      async () => (await statusOf('host-1'))?.reachability?.direction === 'both',
      15_000,
    )
    const askedAt = Date.now()
    const refused = await m.osb().bind(instance, testId('b'), {...REDIS})
    measured['link down: longest sync wait'] = Date.now() - askedAt
    expect(refused.status).toBe(503)
    expect(refused.body.description).toMatch(
      /host host-1 is dead for \d+ s \(both ways: no heartbeat for \d+ s; broker -> agent: /,
    )
    const binding = testId('b')
    const waiting = await m.osb().bind(instance, binding, {...REDIS}, true)
    expect(waiting.status).toBe(202)
    const ageOf = async () =>
      Number(
        /waiting for host host-1, dead for (\d+) s/.exec(
          String(
            (await m.osb().lastOperation(instance, {operation: waiting.body.operation}, binding)).body.description,
          ),
        )?.[1],
      )
    const first = await ageOf()
    // Long enough that a backoff capped at 30 s would have stretched far past the keepalive.
    await new Promise((r) => setTimeout(r, 20_000))
    expect(await ageOf()).toBeGreaterThanOrEqual(first + 19)

    const healedAt = Date.now()
    cutLink(host, false)
    healers.pop()
    await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 20_000,
      everyMs: 50,
    })
    const rejoinMs = Date.now() - healedAt
    measured['link down 20 s: rejoin after the heal'] = rejoinMs
    expect(rejoinMs).toBeLessThan(2 * KEEPALIVE_MS)
    expect((await m.osb().waitFor(instance, waiting.body.operation, binding, 30_000)).body.state).toBe('succeeded')
    expect(await containerIds(host)).toEqual(before)
    const agentLog = host.agent!.logTail(400)
    expect(agentLog).toMatch(/the broker answers again after \d+ failed heartbeat\(s\) over \d+ s/)
    // Each distinct reason once: far fewer warnings than attempts.
    expect(agentLog.match(/warn\s+heartbeat failed/g)?.length ?? 0).toBeLessThanOrEqual(4)
  }, 180_000)
})
