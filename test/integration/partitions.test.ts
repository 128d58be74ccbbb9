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

/** The agent's heartbeats to the broker are dropped inside the host; the broker's calls to its API still get through. */
const dropHeartbeats = (host: TestHost, on: boolean) =>
  inNs(
    host,
    'iptables',
    on ? '-A' : '-D',
    'OUTPUT',
    '-p',
    'tcp',
    '-d',
    host.gateway,
    '--dport',
    String(PORTS.broker),
    '-j',
    'DROP',
  )

/**
 * The agent's answers dropped (segments with data from its API port): the broker's connections open and its
 * requests arrive, but nothing comes back; heartbeats flow. What an agent cut off mid-call looks like.
 */
const dropAnswers = (host: TestHost, on: boolean) =>
  inNs(
    host,
    'iptables',
    on ? '-A' : '-D',
    'OUTPUT',
    '-p',
    'tcp',
    '--sport',
    String(PORTS.agent),
    '-m',
    'length',
    '--length',
    '120:65535',
    '-j',
    'DROP',
  )

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
  /** The broker's log lines from `from` (a length of brokerLog() taken before) on. */
  const brokerLogSince = (from: number) => brokerLog().slice(from)
  /** That `text` has `n` lines matching `pattern`; a failure shows them. */
  const expectLines = (text: string, pattern: RegExp, n: number) => {
    const lines = text.split('\n').filter((line) => pattern.test(line))
    expect(lines.length, `lines matching ${pattern}:\n${lines.join('\n')}`).toBe(n)
  }
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
      // In flight on a dead host, the provision says what it waits for, as of now: last_operation and the admin detail.
      const waitText =
        /^provision waiting for host host-1, dead for (\d+) s \((agent -> broker|both ways): no heartbeat for \d+ s/
      const described = async () =>
        String((await m.osb().lastOperation(id, {operation: started.body.operation})).body.description)
      const first = await described()
      expect(first).toMatch(waitText)
      const detail = await m.admin().request<{lastOperation: {description: string}}>('GET', `/admin/v1/instances/${id}`)
      expect(detail.body.lastOperation.description).toMatch(waitText)
      await until(
        'the wait told as of now',
        async () => {
          const later = waitText.exec(await described())
          return later !== null && Number(later[1]) > Number(waitText.exec(first)![1])
        },
        10_000,
      )
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
    const brokerLogBefore = brokerLog().length
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
    // `hosts` and `top` (off a terminal: its tables) say which way fails and why.
    for (const command of ['hosts', 'top'])
      expect(m.cli([command])).toMatch(/host-1\s+dead \(both\)\s+no heartbeat for \d+ s/)
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
    // The broker logs each transition of the host once, with its reason and how long it lasted.
    const transitions = brokerLogSince(brokerLogBefore)
    expectLines(transitions, /host host-1 is dead \(agent -> broker\): no heartbeat for \d+ s/, 1)
    // The transition's own line (an answer's 503 quotes the same reason in its own line).
    const unreachable =
      /warn\s+host host-1 is unreachable from the broker \(broker -> agent\): [^\n]*; no new instances go there/
    expectLines(transitions, unreachable, 1)
    expectLines(transitions, /host host-1 is reachable from the broker again after \d+ s/, 1)
    const back = /host host-1 is alive again after (\d+) s without heartbeats \(agent -> broker: heartbeats again\)/g
    const backs = [...transitions.matchAll(back)]
    expect(backs).toHaveLength(1)
    expect(Number(backs[0][1])).toBeGreaterThanOrEqual(20)
  }, 180_000)

  it('inbound to the agent dropped: every kind of sync call answers 503 in seconds naming host and direction, in the detection window and once known; nothing is half made or carried out after the heal', async () => {
    const host = m.hosts[0]
    const [instance, victim] = await onHost('host-1')
    const binding = testId('b')
    expect((await m.osb().bind(instance, binding, {...REDIS})).status).toBe(201)
    const [container] = await containersOf(host, instance)
    const startedAt = (await host.docker.getContainer(container).inspect()).State.StartedAt
    const before = await containerIds(host)
    const logsOf = async (id: string) => {
      const response = await fetch(`${m.brokers[0].url}/admin/v1/instances/${id}/logs?tail=5`, {
        headers: {authorization: m.admin().authorization},
      })
      const text = await response.text()
      return {status: response.status, body: (response.status >= 400 ? JSON.parse(text) : {}) as {description?: string}}
    }
    const provisionId = testId()
    const kinds: Array<[string, () => Promise<{status: number; body: {description?: string}}>]> = [
      ['admin restart', () => m.admin().request('POST', `/admin/v1/instances/${instance}/restart`)],
      ['admin logs', () => logsOf(instance)],
      ['deprovision', () => m.osb().deprovision(victim, {...REDIS})],
      ['unbind', () => m.osb().unbind(instance, binding, {...REDIS})],
      ['provision (no other host)', () => m.osb().provision(provisionId, {...REDIS, ...ORG})],
    ]
    expect(JSON.parse(m.cli(['hosts', 'drain', 'host-2', '--json'])).result.drained).toBe(true)
    try {
      for (const [kind, call] of kinds) {
        await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
          timeoutMs: 10_000,
          everyMs: 50,
        })
        dropInbound(host, true)
        healers.push(() => dropInbound(host, false))
        // The broker still takes host-1 for reachable: the call itself finds out, within its connect timeout.
        for (const window of ['detection window', 'known unreachable']) {
          const askedAt = Date.now()
          const answer = await call()
          const waited = Date.now() - askedAt
          measured[`inbound drop, ${kind}: sync wait (${window})`] = waited
          expect({kind, window, status: answer.status}).toEqual({kind, window, status: 503})
          expect(answer.body.description).toMatch(
            /host host-1 .*(broker -> agent)|host-1: unreachable \(broker -> agent\)/,
          )
          expect(waited).toBeLessThan(10_000)
        }
        dropInbound(host, false)
        healers.pop()
      }
    } finally {
      m.cli(['hosts', 'undrain', 'host-2'])
    }
    await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 10_000,
      everyMs: 50,
    })
    // Nothing half made: the refused provision left no row or port, the instance and the binding are as they were.
    expect((await db.query('select id from instances where id = $1', [provisionId])).rowCount).toBe(0)
    expect((await db.query('select port from ports where instance_id = $1', [provisionId])).rowCount).toBe(0)
    const states = await db.query<{id: string; state: string}>(
      'select id, state from instances where id = any($1) order by id',
      [[instance, victim]],
    )
    expect(states.rows.map((r) => r.state)).toEqual(['ready', 'ready'])
    expect((await db.query<{state: string}>('select state from bindings where id = $1', [binding])).rows).toEqual([
      {state: 'bound'},
    ])
    // Nothing carried out late: the same containers, the restart never happened.
    expect(await containerIds(host)).toEqual(before)
    expect((await host.docker.getContainer(container).inspect()).State.StartedAt).toBe(startedAt)
    // Reachable again, each call works.
    expect((await m.osb().unbind(instance, binding, {...REDIS})).status).toBe(200)
    expect((await logsOf(instance)).status).toBe(200)
  }, 180_000)

  it("heartbeats dropped, the broker's calls flowing: dead (in) in `hosts` and `top`, placed elsewhere, sync calls 503 naming agent -> broker, async ones wait saying so; healed, alive < 2 keepalives, each transition logged once", async () => {
    const host = m.hosts[0]
    const instance = (await onHost('host-1'))[0]
    const brokerLogBefore = brokerLog().length
    const cutAt = Date.now()
    dropHeartbeats(host, true)
    healers.push(() => dropHeartbeats(host, false))
    await until('host-1 dead', async () => (await statusOf('host-1'))?.status === 'dead', {
      timeoutMs: 15_000,
      everyMs: 50,
    })
    measured['heartbeats dropped: detection by heartbeat loss'] = Date.now() - cutAt
    // The probe answers: only the inbound direction fails.
    expect(await statusOf('host-1')).toMatchObject({status: 'dead', reachability: {direction: 'in'}})
    for (const command of ['hosts', 'top'])
      expect(m.cli([command])).toMatch(/host-1\s+dead \(in\)\s+no heartbeat for \d+ s/)

    const askedAt = Date.now()
    const refused = await m.osb().bind(instance, testId('b'), {...REDIS})
    measured['heartbeats dropped: longest sync wait'] = Date.now() - askedAt
    expect(refused.status).toBe(503)
    expect(refused.body.description).toMatch(
      /host host-1 is dead for \d+ s \(agent -> broker: no heartbeat for \d+ s\)/,
    )
    const restart = await m.admin().request('POST', `/admin/v1/instances/${instance}/restart`)
    expect(restart.status).toBe(503)
    expect(restart.body.description).toMatch(/host host-1 is dead .*agent -> broker/)

    const fresh = testId()
    expect((await m.osb().provision(fresh, {...REDIS, ...ORG})).status).toBe(201)
    expect(await onHost('host-2')).toContain(fresh)

    const binding = testId('b')
    const waiting = await m.osb().bind(instance, binding, {...REDIS}, true)
    expect(waiting.status).toBe(202)
    expect(
      (await m.osb().lastOperation(instance, {operation: waiting.body.operation}, binding)).body.description,
    ).toMatch(/^bind waiting for host host-1, dead for \d+ s \(agent -> broker: no heartbeat for \d+ s\)/)

    const healedAt = Date.now()
    dropHeartbeats(host, false)
    healers.pop()
    await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 20_000,
      everyMs: 50,
    })
    measured['heartbeats dropped: rejoin after the heal'] = Date.now() - healedAt
    expect(Date.now() - healedAt).toBeLessThan(2 * KEEPALIVE_MS)
    expect((await m.osb().waitFor(instance, waiting.body.operation, binding, 30_000)).body.state).toBe('succeeded')
    const transitions = brokerLogSince(brokerLogBefore)
    expectLines(transitions, /host host-1 is dead \(agent -> broker\): no heartbeat for \d+ s/, 1)
    expectLines(transitions, /host host-1 is alive again after \d+ s without heartbeats/, 1)
    // The broker's own calls never failed: no outbound transition.
    expectLines(transitions, /host host-1 is unreachable from the broker \(broker -> agent\): .*; no new instances/, 0)
  }, 120_000)

  it("the agent's answers dropped mid-call, heartbeats flowing: a sync provision whose apply got no answer lands on the other host in seconds; what the cut host made goes after the heal", async () => {
    const host = m.hosts[0]
    // Spread takes the host with fewest instances, host-1 on a tie.
    expect((await onHost('host-1')).length).toBeLessThanOrEqual((await onHost('host-2')).length)
    const cutAt = Date.now()
    dropAnswers(host, true)
    healers.push(() => dropAnswers(host, false))
    const id = testId()
    const sync = await m.osb().provision(id, {...REDIS, ...ORG})
    measured['answers dropped mid-call: longest sync wait (placed again)'] = Date.now() - cutAt
    expect(sync.status).toBe(201)
    expect(Date.now() - cutAt).toBeLessThan(20_000)
    // The apply arrived (host-1 made the container) but its answer never came: the probe of the call in flight ended it.
    expect(brokerLog()).toMatch(
      new RegExp(
        `instance ${id} could not be made on host host-1 \\(the call to host host-1's agent was cancelled: .*\\): placed again on host host-2`,
      ),
    )
    expect(await statusOf('host-1')).toMatchObject({status: 'unreachable', reachability: {direction: 'out'}})
    const healedAt = Date.now()
    dropAnswers(host, false)
    healers.pop()
    await until('host-1 alive', async () => (await statusOf('host-1'))?.status === 'alive', {
      timeoutMs: 10_000,
      everyMs: 50,
    })
    measured['answers dropped: rejoin after the heal'] = Date.now() - healedAt
    await until('what host-1 made removed', async () => (await containersOf(host, id)).length === 0, 30_000)
    await livesOn(id, 'host-2')
  }, 120_000)
})
