import http from 'node:http'
import type net from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BrokerEvents} from '../../src/broker/events.js'
import {Reachability, watchedAgent} from '../../src/broker/reachability.js'
import {HttpAgentClient} from '../../src/client/agent-http.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec, Host} from '../../src/core/types.js'

const KEEPALIVE = 200

/** A fake agent at the HTTP boundary: a log stream gets its headers and one line, then silence; nothing else is answered. */
function stallingAgent(): Promise<{url: string; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>()
  const server = http.createServer((request, response) => {
    if (request.url?.includes('/logs')) {
      response.writeHead(200, {'content-type': 'text/plain'})
      response.write('ready to accept connections\n')
    }
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          }),
      }),
    ),
  )
}

// The stalling agent never reads what it is sent.
const SPEC = {instanceId: 'i1'} as ContainerSpec

describe('calls in flight to a host the broker gives up on', () => {
  let agent: Awaited<ReturnType<typeof stallingAgent>>
  const setup = (watchMs = 60_000) => {
    const reachability = new Reachability({events: new BrokerEvents(), log: createLogger('silent')})
    const client = new HttpAgentClient('h1', agent.url, {
      credential: async () => 'token',
      // Long enough that only a cancellation ends them within the test.
      deadlines: {
        connectMs: 300,
        applyMs: 60_000,
        actionMs: 60_000,
        lookMs: 400,
        probeMs: 300,
        watchMs,
        watchProbeMs: 300,
      },
      reached: (id, failure) => reachability.reached(id, failure),
      cancelled: (id) => reachability.callSignal(id),
    })
    return {reachability, client}
  }
  const failure = async (work: Promise<unknown>) => {
    const started = Date.now()
    const error = await work.then(
      () => new Error('it did not fail'),
      (e: unknown) => e as Error,
    )
    return {error, ms: Date.now() - started}
  }

  beforeAll(async () => {
    agent = await stallingAgent()
  })
  afterAll(async () => {
    await agent.close()
  })

  it('another call to the host fails: the apply and the exec in flight end at once, naming the host and the direction', async () => {
    const {reachability, client} = setup()
    const apply = failure(client.apply(SPEC))
    const exec = failure(client.exec('i1', ['true'], {}))
    // A look times out after 400 ms: the host is unreachable (out), and the calls in flight with it.
    await expect(client.list()).rejects.toThrow(/host h1 is unreachable from the broker \(broker -> agent\)/)
    for (const {error, ms} of [await apply, await exec]) {
      expect(error.message).toMatch(
        /the call to host h1's agent was cancelled: host h1 is unreachable from the broker \(broker -> agent\): no complete answer/,
      )
      expect(ms).toBeLessThan(5000)
    }
    // Calls that start afterwards try on their own.
    expect(reachability.callSignal('h1').aborted).toBe(false)
  }, 15_000)

  it('answers stop mid-call, heartbeats flowing: a call unanswered past watchMs has the agent probed, and the failed probe ends it', async () => {
    const {reachability, client} = setup(500)
    const {error, ms} = await failure(client.apply(SPEC))
    expect(error.message).toMatch(
      /the call to host h1's agent was cancelled: host h1 is unreachable from the broker \(broker -> agent\): no complete answer .* within 300 ms/,
    )
    // One watch interval and one probe deadline, not the apply's 60 s.
    expect(ms).toBeGreaterThanOrEqual(700)
    expect(ms).toBeLessThan(3000)
    expect(reachability.failingOut('h1')).toBe(true)
    // Still failing, the next failed probe ends calls begun meanwhile too.
    const exec = failure(client.exec('i1', ['true'], {}))
    await expect(client.probe()).rejects.toThrow(/unreachable/)
    expect((await exec).error.message).toMatch(/the call to host h1's agent was cancelled/)
  }, 15_000)

  it('heartbeats stop: the calls in flight end once the host is dead, saying agent -> broker', async () => {
    const {reachability, client} = setup()
    const host = {id: 'h1', status: 'alive', keepaliveMs: KEEPALIVE, lastHeartbeat: Date.now()} as Host
    reachability.heard(host, KEEPALIVE)
    const apply = failure(client.apply(SPEC))
    await new Promise((r) => setTimeout(r, 200))
    reachability.heard({...host, lastHeartbeat: Date.now() - 4 * KEEPALIVE}, KEEPALIVE)
    const {error, ms} = await apply
    expect(error.message).toMatch(
      /the call to host h1's agent was cancelled: host h1 is dead \(agent -> broker: no heartbeat for \d+ s\)/,
    )
    expect(ms).toBeLessThan(5000)
  })

  it('a followed log stream gone quiet has the agent probed; no answer ends it with the reason instead of hanging', async () => {
    const {reachability, client} = setup()
    const watched = watchedAgent(client, {hostId: 'h1', reachability, idleMs: 300, log: createLogger('silent')})
    const stream = await watched.logs!('i1', {follow: true})
    const seen: string[] = []
    const ended = (async () => {
      for await (const chunk of stream) seen.push(chunk)
    })()
    const {error} = await failure(ended)
    expect(seen.join('')).toContain('ready to accept connections')
    expect(error.message).toMatch(
      /the call to host h1's agent was cancelled: host h1 is unreachable from the broker \(broker -> agent\): no complete answer .* within 300 ms/,
    )
    expect(reachability.failingOut('h1')).toBe(true)
  }, 15_000)
})
