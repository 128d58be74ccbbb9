import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'

import pg from 'pg'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

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
const containersOf = async (host: TestHost, instanceId: string) =>
  (await host.docker.listContainers({all: true, filters: {label: [`dbroker.instance=${instanceId}`]}})).map((c) => c.Id)

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
  /** The instance's row, its ports and its containers all say it lives on `hostId`, and nothing of it is elsewhere. */
  const livesOn = async (instanceId: string, hostId: string) => {
    const row = (
      await db.query<{host_id: string; state: string}>('select host_id, state from instances where id = $1', [
        instanceId,
      ])
    ).rows
    expect(row).toEqual([{host_id: hostId, state: 'ready'}])
    const ports = (await db.query<{host_id: string}>('select host_id from ports where instance_id = $1', [instanceId]))
      .rows
    expect(ports.length).toBeGreaterThan(0)
    expect(new Set(ports.map((p) => p.host_id))).toEqual(new Set([hostId]))
    for (const host of m.hosts) expect(await containersOf(host, instanceId)).toHaveLength(host.id === hostId ? 1 : 0)
  }
  const brokerLog = () => m.brokers[0].logTail(100_000)
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
  // A story that failed mid-cut heals here, so the next one starts on a whole network.
  afterEach(() => {
    for (const heal of healers.splice(0)) {
      try {
        heal()
      } catch {
        // already healed
      }
    }
  })
  afterAll(async () => {
    await db?.end()
    await m?.teardown()
    if (process.env.DBROKER_BENCH_OUT) writeFileSync(process.env.DBROKER_BENCH_OUT, JSON.stringify(measured))
  })

  it('a cut during placement (the detection window): the provision lands on the other host in the same request, sync and async, and nothing is left on the cut one', async () => {
    const host = m.hosts[0]
    // Spread places on the host with fewest instances, host-1 on a tie: both hold 2.
    expect(await onHost('host-1')).toHaveLength((await onHost('host-2')).length)

    // Inbound dropped, heartbeats flowing: host-1 is alive and chosen, its apply can't connect.
    dropInbound(host, true)
    healers.push(() => dropInbound(host, false))
    const syncId = testId()
    const askedAt = Date.now()
    const sync = await m.osb().provision(syncId, {...REDIS, ...ORG})
    measured['cut during placement: longest sync wait'] = Date.now() - askedAt
    expect(sync.status).toBe(201)
    expect(brokerLog()).toMatch(
      new RegExp(`instance ${syncId} could not be made on host host-1 .*: placed again on host host-2`),
    )
    await livesOn(syncId, 'host-2')
    dropInbound(host, false)
    healers.pop()
    await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 10_000,
      everyMs: 50,
    })

    // The link down just before an async provision: host-1 still looks alive, fewest instances again.
    expect((await onHost('host-1')).length).toBeLessThan((await onHost('host-2')).length)
    cutLink(host, true)
    healers.push(() => cutLink(host, false))
    const asyncId = testId()
    const started = await m.osb().provision(asyncId, {...REDIS, ...ORG}, true)
    expect(started.status).toBe(202)
    expect((await m.osb().waitFor(asyncId, started.body.operation, undefined, 60_000)).body.state).toBe('succeeded')
    expect(brokerLog()).toMatch(
      new RegExp(`instance ${asyncId} could not be made on host host-1 .*: placed again on host host-2`),
    )
    cutLink(host, false)
    healers.pop()
    await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 10_000,
      everyMs: 50,
    })
    await livesOn(asyncId, 'host-2')
    expect((await db.query("select id from instances where state <> 'ready'")).rowCount).toBe(0)
    // Both answer with the credentials the broker gave.
    for (const id of [syncId, asyncId]) {
      const bound = await m.osb().bind(id, testId('b'), {...REDIS})
      expect(bound.status).toBe(201)
      const {host: address, port, username, password} = bound.body.credentials as Record<string, string>
      expect(address).toBe(m.hosts[1].address)
      // The password through the environment, never in argv.
      const pong = execFileSync('redis-cli', ['-h', address, '-p', String(port), '--user', username, 'PING'], {
        encoding: 'utf8',
        timeout: 5000,
        env: {...process.env, REDISCLI_AUTH: password},
      })
      expect(pong.trim()).toBe('PONG')
    }
  }, 120_000)

  it('a followed log stream from a host gone unreachable ends with the reason, and `logs -f` exits 1: inbound dropped (probe when quiet), link down (dead)', async () => {
    const host = m.hosts[0]
    const instance = (await onHost('host-1'))[0]
    for (const [cut, heal, why, measure] of [
      [
        () => dropInbound(host, true),
        () => dropInbound(host, false),
        /host host-1 is unreachable \(out\)/,
        'inbound drop',
      ],
      [() => cutLink(host, true), () => cutLink(host, false), /host host-1 is dead \((in|both)\)/, 'link down'],
    ] as const) {
      const logs = m.cliRunning(['logs', instance, '-f', '--tail', '5'])
      let cutAt: number | undefined
      try {
        await until('the log stream open', async () => logs.output.stdout.includes('\n'), 20_000)
        cutAt = Date.now()
        cut()
        const {code} = await logs.exited
        measured[`followed logs, ${measure}: the stream ended after`] = Date.now() - cutAt
        expect(code).toBe(1)
        expect(logs.output.stderr).toMatch(/the log stream ended: .*host host-1/)
        expect(logs.output.stderr).toMatch(why)
      } finally {
        logs.stop()
        if (cutAt !== undefined) heal()
      }
      await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
        timeoutMs: 15_000,
        everyMs: 50,
      })
    }
    expect(brokerLog()).toMatch(
      new RegExp(
        `the followed log stream of instance ${instance} ended: the call to host host-1's agent was cancelled`,
      ),
    )
  }, 120_000)

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
    expect(brokerLog()).toMatch(/host host-1 is unreachable from the broker \(broker -> agent\)/)
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
    const agentLogBefore = host.agent!.logTail(1e6).length
    const cutAt = Date.now()
    cutLink(host, true)
    healers.push(() => cutLink(host, false))
    // Within the detection window the host still looks alive: a sync call to its agent fails by itself, in seconds.
    const restartAt = Date.now()
    const restart = await m.admin().request('POST', `/admin/v1/instances/${instance}/restart`)
    measured['link down: longest sync wait (detection window)'] = Date.now() - restartAt
    expect(restart.status).toBeGreaterThanOrEqual(500)
    expect(JSON.stringify(restart.body)).toMatch(/host host-1/)
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
    const agentLog = host.agent!.logTail(1e6).slice(agentLogBefore)
    expect(agentLog).toMatch(/the broker answers again after \d+ failed heartbeat\(s\) over \d+ s/)
    // Each distinct reason once: far fewer warnings than attempts.
    expect(agentLog.match(/warn\s+heartbeat failed/g)?.length ?? 0).toBeLessThanOrEqual(4)
  }, 180_000)
})
