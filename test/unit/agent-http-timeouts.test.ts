import net from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AgentUnreachableError, HttpAgentClient} from '../../src/client/agent-http.js'
import type {ContainerSpec} from '../../src/core/types.js'

/** A fake agent at the TCP boundary: it accepts every connection and never says a word. */
function silentServer(): Promise<{port: number; connections: () => number; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>()
  let count = 0
  const server = net.createServer((socket) => {
    count++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections: () => count,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          }),
      }),
    ),
  )
}

const SPEC = {
  instanceId: 'i1',
  name: 'i1',
  image: 'x',
  env: {},
  ports: [],
  bindAddress: '127.0.0.1',
  volumes: [],
  restart: 'no',
  labels: {},
  readiness: {probe: 'none', timeoutMs: 0},
  hooks: {},
} as ContainerSpec

describe('broker -> agent calls against an agent that accepts and never answers', () => {
  let server: Awaited<ReturnType<typeof silentServer>>
  const outcomes: Array<[string, string | undefined]> = []
  const client = (scheme: 'http' | 'https', deadlines = {}) =>
    new HttpAgentClient('h1', `${scheme}://127.0.0.1:${server.port}`, {
      credential: async () => 'token',
      deadlines: {
        connectMs: 300,
        actionMs: 600,
        lookMs: 400,
        applyMs: 900,
        probeMs: 300,
        streamStartMs: 500,
        ...deadlines,
      },
      reached: (id, failure) => outcomes.push([id, failure]),
    })

  beforeAll(async () => {
    server = await silentServer()
  })
  afterAll(async () => {
    await server.close()
  })

  const timed = async (work: () => Promise<unknown>) => {
    const started = Date.now()
    const error = await work().then(
      () => undefined,
      (e: unknown) => e,
    )
    return {error, ms: Date.now() - started}
  }

  it.each([
    ['exec', (c: HttpAgentClient) => c.exec('i1', ['true'], {}), 600],
    ['restart', (c: HttpAgentClient) => c.restart('i1'), 600],
    ['remove', (c: HttpAgentClient) => c.remove('i1'), 600],
    ['list', (c: HttpAgentClient) => c.list(), 400],
    ['apply', (c: HttpAgentClient) => c.apply(SPEC), 900],
    ['probe', (c: HttpAgentClient) => c.probe(), 300],
  ] as const)(
    '%s fails by its deadline as unreachable, and tells the host state why',
    async (_name, call, deadline) => {
      outcomes.length = 0
      const {error, ms} = await timed(() => call(client('http')))
      expect(error).toBeInstanceOf(AgentUnreachableError)
      expect((error as Error).message).toMatch(
        /^host h1 is unreachable from the broker \(broker -> agent\): no complete answer to http:\/\/127\.0\.0\.1:\d+ within \d+ ms/,
      )
      expect(ms).toBeGreaterThanOrEqual(deadline - 20)
      expect(ms).toBeLessThan(deadline + 500)
      expect(outcomes).toEqual([['h1', expect.stringMatching(/within/)]])
    },
  )

  it('a TLS handshake that never finishes counts against the connect timeout, not the long apply deadline', async () => {
    const {error, ms} = await timed(() => client('https', {applyMs: 60_000}).apply(SPEC))
    expect((error as Error).message).toMatch(/could not connect to https:\/\/127\.0\.0\.1:\d+ within 300 ms/)
    expect(ms).toBeLessThan(1500)
  })

  it('a log stream whose headers never come fails by the stream-start timeout', async () => {
    const {error, ms} = await timed(() => client('http').logs('i1', {follow: true}))
    expect(error).toBeInstanceOf(AgentUnreachableError)
    expect((error as Error).message).toMatch(/no response to http:\/\/127\.0\.0\.1:\d+ within 500 ms/)
    expect(ms).toBeLessThan(1500)
  })

  it('every call opens its own connection: a socket that went silent is never reused', async () => {
    const before = server.connections()
    await Promise.allSettled([client('http').list(), client('http').list()])
    await client('http')
      .list()
      .catch(() => undefined)
    expect(server.connections() - before).toBe(3)
  })
})
