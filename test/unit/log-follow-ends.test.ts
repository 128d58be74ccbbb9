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
