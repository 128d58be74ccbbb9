import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import {Header} from '../../src/ui/top/chrome.js'
import {DetailPanel} from '../../src/ui/top/detail-panel.js'
import {HostsPanel} from '../../src/ui/top/hosts-panel.js'
import {InstancesPanel} from '../../src/ui/top/instances-panel.js'
import {LogsPanel} from '../../src/ui/top/logs-panel.js'
import {splitMatches, visibleInstances} from '../../src/ui/top/model.js'
import {appendBounded, parseLogLine} from '../../src/ui/top/use-log-buffer.js'
import {FakeClient, fakeHost, fakeInstance} from './fake-client.js'

describe('hosts panel', () => {
  it('shows each host with liveness, heartbeat age, engine, registry mirrors, insecure registries and logging driver', () => {
    const {lastFrame} = render(
      <HostsPanel
        hosts={[fakeHost('h1'), fakeHost('h2', {status: 'dead', heartbeatAgeMs: 95_000})]}
        focused={false}
        selected={0}
        height={4}
        width={160}
      />,
    )
    const frame = lastFrame()!
    expect(frame).toMatch(/h1\s+alive\s+2s\s+20\.10\.24/)
    expect(frame).toMatch(/h2\s+dead\s+1m/)
    expect(frame).toContain('json-file')
    expect(frame).toContain('http://mirror:5000')
    expect(frame).toContain('insecure:10.0.0.0/8')
  })
})

describe('instances panel', () => {
  it('draws only the visible window of 500 instances', () => {
    const rows = Array.from({length: 500}, (_, n) => fakeInstance(n))
    const {lastFrame} = render(
      <InstancesPanel
        rows={rows}
        total={500}
        cpuHistory={new Map([['id-0100', [1, 5, 9]]])}
        selected={100}
        offset={100}
        height={10}
        width={150}
        focused
        sort="name"
        filter=""
      />,
    )
    const frame = lastFrame()!
    expect(frame).toContain('inst-0100')
    expect(frame).toContain('inst-0109')
    expect(frame).not.toContain('inst-0099')
    expect(frame).not.toContain('inst-0110')
    expect(frame).toContain('rows 101-110 of 500')
    expect(frame).toMatch(/inst-0100.*redis\/small.*healthy.*127\.0\.0\.1:40100/)
    expect(frame).toContain('▂▅█')
  })

  it("scales the CPU history to the instance's CPU limit, bars memory against its limit, and shows the supervisor's findings", () => {
    const limited = fakeInstance(1, {
      limits: {cpus: 0.2, memoryBytes: 128 * 1024 ** 2},
      stats: {cpuPercent: 10, memoryBytes: 64 * 1024 ** 2, memoryLimitBytes: 128 * 1024 ** 2},
      container: {
        status: 'running',
        health: 'none',
        restartCount: 4,
        startedAt: null,
        failing: true,
        lastExitCode: 137,
        oomKilled: true,
      },
    })
    // No limit: the history is scaled to the host's two cores.
    const unlimited = fakeInstance(2, {limits: {cpus: null, memoryBytes: null}})
    const {lastFrame} = render(
      <InstancesPanel
        rows={[limited, unlimited]}
        total={2}
        cpuHistory={
          new Map([
            ['id-0001', [10, 10, 20]],
            ['id-0002', [200, 100]],
          ])
        }
        hostCpus={new Map([['local', 2]])}
        selected={0}
        offset={0}
        height={5}
        width={160}
        focused={false}
        sort="name"
        filter=""
      />,
    )
    const frame = lastFrame()!
    const row = (name: string) => frame.split('\n').find((l) => l.includes(name))!
    // 10 % of one core is half of a 0.2-core limit; 20 % is all of it.
    expect(row('inst-0001')).toMatch(/▅▅█ +0\.2c/)
    expect(row('inst-0001')).toMatch(/███░░░ +128M/)
    expect(row('inst-0001')).toMatch(/failing .* 4 137 \(oom\)/)
    expect(row('inst-0002')).toMatch(/█▅ +none/)
    expect(frame).toContain('MEM/LIMIT')
  })

  it('filters on name, service or host and says when nothing matches', () => {
    const all = [fakeInstance(1), fakeInstance(2), fakeInstance(3)]
    expect(visibleInstances(all, 'postgres', 'name').map((i) => i.name)).toEqual(['inst-0001', 'inst-0003'])
    expect(visibleInstances(all, '', 'cpu').map((i) => i.name)).toEqual(['inst-0003', 'inst-0002', 'inst-0001'])
    const {lastFrame} = render(
      <InstancesPanel
        rows={[]}
        total={3}
        cpuHistory={new Map()}
        selected={0}
        offset={0}
        height={5}
        width={120}
        focused
        sort="name"
        filter="zzz"
      />,
    )
    expect(lastFrame()).toContain('nothing matches "zzz"')
  })
})

describe('detail panel', () => {
  it('masks binding credentials until they are revealed', async () => {
    const client = new FakeClient()
    const masked = render(
      <DetailPanel detail={await client.instance('id-0001')} error={null} revealed={false} width={140} />,
    )
    expect(masked.lastFrame()).toContain('c reveals credentials')
    expect(masked.lastFrame()).not.toContain('hunter2secret')
    const shown = render(
      <DetailPanel detail={await client.instance('id-0001', {credentials: true})} error={null} revealed width={140} />,
    )
    expect(shown.lastFrame()).toContain('redis://bob:hunter2secret@127.0.0.1:40001')
    expect(shown.lastFrame()).toContain('dbroker/redis:7')
  })
})

describe('logs panel', () => {
  const lines = [
    '2026-01-01T00:00:00.000000001Z ready to accept connections',
    '2026-01-01T00:00:01.000000001Z WARNING low memory',
    'plain line',
  ].map(parseLogLine)

  it('at 80 columns the header keeps the search and its matches, before what the line cuts', () => {
    const {lastFrame} = render(
      <LogsPanel
        title="orders-db-primary"
        buffer={{
          lines: Array.from({length: 56}, (_, n) => parseLogLine(`line ${n}`)),
          dropped: 0,
          error: null,
          ended: false,
        }}
        bottom={55}
        height={10}
        width={80}
        follow
        wrap
        timestamps
        search="line 5"
      />,
    )
    const header = lastFrame()!.split('\n')[1]
    expect(header).toContain('/line 5: 7 matches (n/N)')
  })

  it('highlights search matches and shows timestamps on demand', () => {
    const {lastFrame} = render(
      <LogsPanel
        title="r1"
        buffer={{lines, dropped: 0, error: null, ended: false}}
        bottom={2}
        height={10}
        width={120}
        follow
        wrap={false}
        timestamps
        search="warn"
      />,
    )
    const frame = lastFrame()!
    expect(frame).toContain('/warn: 1 match')
    expect(frame).toContain('2026-01-01T00:00:01.000')
    expect(frame).toContain('WARNING low memory')
    expect(splitMatches('a WARNING, warn', 'warn')).toEqual([
      {text: 'a ', match: false},
      {text: 'WARN', match: true},
      {text: 'ING, ', match: false},
      {text: 'warn', match: true},
    ])
  })

  it('keeps a bounded buffer, dropping the oldest lines', () => {
    const many = Array.from({length: 30}, (_, i) => ({time: null, text: `line ${i}`}))
    const {lines: kept, dropped} = appendBounded(many.slice(0, 20), many.slice(20), 25)
    expect(kept).toHaveLength(25)
    expect(dropped).toBe(5)
    expect(kept[0].text).toBe('line 5')
  })

  it('says clearly when the logging driver cannot be read', () => {
    const {lastFrame} = render(
      <LogsPanel
        title="r1"
        buffer={{
          lines: [],
          dropped: 0,
          error: 'the engine cannot read back logs written with the syslog logging driver',
          ended: true,
        }}
        bottom={0}
        height={5}
        width={120}
        follow
        wrap={false}
        timestamps={false}
        search=""
      />,
    )
    expect(lastFrame()).toContain('syslog logging driver')
  })
})

describe('header', () => {
  it('keeps the STALE marker whole at 80 columns: the target gives way, then the explanation', () => {
    const header = (width: number, target = 'production-eu-west http://broker.prod.example.com:9998') =>
      render(
        <Header
          target={target}
          loading={false}
          live={false}
          stale
          hosts={3}
          instances={120}
          error={null}
          width={width}
        />,
      ).lastFrame()!
    const narrow = header(80)
    expect(narrow).toMatch(/· STALE$/)
    expect(narrow).toContain('3 hosts · 120 instances · reconnecting')
    expect(narrow).toContain('dbroker top production-eu')
    expect(narrow.length).toBeLessThanOrEqual(80)
    // Where there is room (the test renderer is 100 columns wide), the whole of both.
    expect(header(100, 'prod')).toBe(
      'dbroker top prod · 3 hosts · 120 instances · reconnecting · STALE: rows show the last state seen',
    )
    // With the broker's error after it, STALE still shows whole; the error's tail is what is cut.
    const failing = render(
      <Header
        target="local http://127.0.0.1:9771"
        loading={false}
        live={false}
        stale
        hosts={1}
        instances={2}
        error="cannot reach the broker at http://127.0.0.1:9771: connect ECONNREFUSED"
        width={80}
      />,
    ).lastFrame()!
    // The screen's box cuts the line at its width; the test renderer is wider.
    expect(failing.slice(0, 80)).toContain('· reconnecting · STALE · cannot reach')
    expect(header(60)).toMatch(/^dbroker top +3 hosts · 120 instances · reconnecting · STALE$/)
  })

  it('says connecting, not reconnecting, while the event stream has not opened yet', () => {
    const header = (connecting: boolean, live = false) =>
      render(
        <Header
          target="local"
          loading={false}
          live={live}
          connecting={connecting}
          hosts={1}
          instances={500}
          error={null}
          width={100}
        />,
      ).lastFrame()!
    expect(header(true)).toBe('dbroker top local · 1 host · 500 instances · connecting')
    expect(header(false)).toBe('dbroker top local · 1 host · 500 instances · reconnecting')
    expect(header(false, true)).toBe('dbroker top local · 1 host · 500 instances · live')
  })
})
