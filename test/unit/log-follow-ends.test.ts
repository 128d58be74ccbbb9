import {describe, expect, it} from 'vitest'

import {followLogs, type LogSource, type LogStreamEvent} from '../../src/client/log-stream.js'
import type {HostView} from '../../src/core/admin.js'

/** A broker whose log stream for i1 gives one line and breaks, its host in the given state. */
const source = (host: Partial<HostView>): LogSource => ({
  async *logs() {
    yield 'one line\n'
    throw new Error('the log stream from http://127.0.0.1:44100 broke (terminated)')
  },
  instance: async () => ({hostId: 'h1'}),
  hosts: async () => [{id: 'h1', status: 'alive', ...host} as HostView],
})

const events = async (from: LogSource) => {
  const seen: LogStreamEvent[] = []
  for await (const event of followLogs(from, 'i1', {retry: false})) seen.push(event)
  return seen
}

describe('a followed log stream that ends', () => {
  it('says that its host is unreachable, and which way, when that is why', async () => {
    const seen = await events(
      source({status: 'unreachable', reachability: {direction: 'out', reason: 'could not connect', since: 0}}),
    )
    expect(seen).toEqual([
      {kind: 'text', text: 'one line\n'},
      {
        kind: 'interrupted',
        reason:
          'the log stream from http://127.0.0.1:44100 broke (terminated); host h1 is unreachable (out): could not connect',
      },
    ])
  })

  it('says nothing more when its host is alive', async () => {
    const seen = await events(source({}))
    expect(seen.at(-1)).toEqual({
      kind: 'interrupted',
      reason: 'the log stream from http://127.0.0.1:44100 broke (terminated)',
    })
  })
})

describe('a followed log stream the broker ends cleanly', () => {
  /** A stream that gives one line and ends, its instance's container as given. */
  const ending = (container: Record<string, unknown> | null): LogSource => ({
    async *logs() {
      yield 'one line\n'
    },
    instance: async () => ({hostId: 'h1', container: container as never}),
    hosts: async () => [{id: 'h1', status: 'alive'} as HostView],
  })

  it('says the container restarted, and when, when it started again after the stream began', async () => {
    const startedAt = new Date(Date.now() + 500).toISOString()
    const seen = await events(
      ending({status: 'running', health: 'healthy', restartCount: 1, startedAt, lastExitCode: 0}),
    )
    expect(seen.at(-1)).toEqual({
      kind: 'interrupted',
      reason: `the container restarted at ${startedAt.slice(11, 19)}, last exit code 0`,
    })
  })

  it('says the container stopped when it is not running', async () => {
    const seen = await events(
      ending({status: 'exited', health: 'none', restartCount: 0, startedAt: null, lastExitCode: 137}),
    )
    expect(seen.at(-1)).toEqual({kind: 'interrupted', reason: 'the container is exited, last exit code 137'})
  })

  it('blames the broker when its container runs on since before the stream, or when the broker does not answer', async () => {
    const long = new Date(Date.now() - 60_000).toISOString()
    expect(
      (await events(ending({status: 'running', health: 'healthy', restartCount: 0, startedAt: long}))).at(-1),
    ).toEqual({
      kind: 'interrupted',
      reason: 'the broker ended it (restarting or stopping)',
    })
    const gone: LogSource = {
      ...ending(null),
      instance: async () => {
        throw new Error('ECONNREFUSED')
      },
    }
    expect((await events(gone)).at(-1)).toEqual({
      kind: 'interrupted',
      reason: 'the broker is not answering (restarting or stopped)',
    })
  })
})
