import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {buildAgentApi} from '../../src/agent/api.js'
import {adminRoutes} from '../../src/broker/admin/index.js'
import {agentRoutes} from '../../src/broker/agents.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents} from '../../src/broker/events.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent} from '../helpers/fake-agent.js'

const OSB = {username: 'broker', password: 'right-password-1'}
const ADMIN = {username: 'admin', password: 'admin-password-1'}
const TOKEN = 'agent-token-0123456789'
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

describe('failed logins', () => {
  let app: FastifyInstance
  let store: Store
  let lines: string[]

  beforeEach(async () => {
    lines = []
    store = await openStore('sqlite::memory:')
    const log = createLogger('info', (line) => lines.push(line))
    const events = new BrokerEvents()
    const provisioner = {} as Provisioner
    const catalog = loadCatalog()
    app = buildBrokerApp({
      catalog,
      provisioner,
      credentials: OSB,
      log,
      health: async () => undefined,
      plugins: [
        adminRoutes({
          store,
          catalog,
          provisioner,
          events,
          agentFor: () => ({}) as never,
          credentials: ADMIN,
          keepaliveMs: 1000,
          log,
        }),
        agentRoutes({store, provisioner, events, keepaliveMs: 1000, log}),
      ],
    })
    await app.ready()
  })
  afterEach(async () => {
    await app.close()
    await store.close()
  })

  const catalog = (ip: string, password: string) =>
    app.inject({
      method: 'GET',
      url: '/v2/catalog',
      remoteAddress: ip,
      headers: {authorization: basic(OSB.username, password), 'x-broker-api-version': '2.17'},
    })

  it('a percent-encoded path (/%61dmin, /%762) reaches the same routes and is guarded the same: 429 after 10 guesses, for the right password too', async () => {
    for (const [url, user, right, extra] of [
      ['/%61dmin/v1/instances', ADMIN.username, ADMIN.password, {}],
      ['/%762/catalog', OSB.username, OSB.password, {'x-broker-api-version': '2.17'}],
    ] as const) {
      const ip = url.includes('dmin') ? '10.0.9.1' : '10.0.9.2'
      const ask = (password: string) =>
        app.inject({method: 'GET', url, remoteAddress: ip, headers: {authorization: basic(user, password), ...extra}})
      // The encoded path is the real route: the right password gets in while nothing was guessed.
      expect((await ask(right)).statusCode).toBe(200)
      const statuses = []
      for (let i = 0; i < 11; i++) statuses.push((await ask(`wrong-${i}`)).statusCode)
      expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true)
      expect(statuses[10]).toBe(429)
      expect((await ask(right)).statusCode).toBe(429)
    }
    expect(lines.some((l) => /failed login to the admin API from 10\.0\.9\.1/.test(l))).toBe(true)
    expect(lines.some((l) => /failed login to the OSB API from 10\.0\.9\.2/.test(l))).toBe(true)
  }, 30_000)

  it('a flood of guesses from one address gets at most 10 answers, then 429 even for the right password; others still get in; a few log lines', async () => {
    const guesses = await Promise.all(Array.from({length: 40}, (_, i) => catalog('10.0.0.1', `guess-${i}`)))
    const statuses = guesses.map((r) => r.statusCode)
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10)
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30)
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true)
    const refused = guesses.find((r) => r.statusCode === 429)!
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect(refused.json().description).toMatch(/too many failed logins/)

    // The right password from that address is refused too: a 200 would confirm a guess.
    expect((await catalog('10.0.0.1', OSB.password)).statusCode).toBe(429)
    expect((await catalog('10.0.0.2', OSB.password)).statusCode).toBe(200)

    expect(lines.length).toBeGreaterThanOrEqual(1)
    expect(lines.length).toBeLessThanOrEqual(3)
    expect(lines[0]).toMatch(/failed login to the OSB API from 10\.0\.0\.1 \(GET \/v2\/catalog\)/)
    expect(lines.some((l) => /failed logins from 10\.0\.0\.1 within 60 s: its requests get 429/.test(l))).toBe(true)
    for (const line of lines) expect(line).not.toMatch(/guess-/)
  })

  it('each failure after the third from an address answers later than the one before', async () => {
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      expect((await catalog('10.0.0.3', 'wrong')).statusCode).toBe(401)
      times.push(performance.now() - start)
    }
    expect(times[0]).toBeLessThan(200)
    expect(times[3]).toBeGreaterThanOrEqual(240)
    expect(times[4]).toBeGreaterThanOrEqual(490)
  })

  it('the admin and agent realms count and log their failures the same way', async () => {
    const admin = await Promise.all(
      Array.from({length: 15}, () =>
        app.inject({
          method: 'GET',
          url: '/admin/v1/hosts',
          remoteAddress: '10.0.0.4',
          headers: {authorization: basic('admin', 'nope')},
        }),
      ),
    )
    expect(admin.filter((r) => r.statusCode === 429).length).toBeGreaterThanOrEqual(5)
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/admin/v1/hosts',
          remoteAddress: '10.0.0.4',
          headers: {authorization: basic(ADMIN.username, ADMIN.password)},
        })
      ).statusCode,
    ).toBe(429)

    const agent = await app.inject({
      method: 'POST',
      url: '/agents/v1/heartbeat',
      remoteAddress: '10.0.0.5',
      headers: {authorization: 'Bearer wrong-token'},
      payload: {},
    })
    expect(agent.statusCode).toBe(401)
    expect(lines.some((l) => /failed login to the admin API from 10\.0\.0\.4/.test(l))).toBe(true)
    expect(lines.some((l) => /failed login to the agent registration API from 10\.0\.0\.5/.test(l))).toBe(true)
    // Requests without credentials (clients that wait for the challenge) are not guesses: never slowed or refused.
    const anonymous = await Promise.all(
      Array.from({length: 20}, () =>
        app.inject({
          method: 'GET',
          url: '/v2/catalog',
          remoteAddress: '10.0.0.6',
          headers: {'x-broker-api-version': '2.17'},
        }),
      ),
    )
    expect(anonymous.map((r) => r.statusCode)).toEqual(Array(20).fill(401))
    // Health checks carry no credentials and are never refused.
    expect((await app.inject({method: 'GET', url: '/healthz', remoteAddress: '10.0.0.4'})).statusCode).toBe(200)
  })

  it("the agent's own API refuses a flood of wrong tokens the same way", async () => {
    const api = buildAgentApi({
      agent: new FakeAgent(),
      hostToken: TOKEN,
      log: createLogger('info', (line) => lines.push(line)),
    })
    try {
      const tries = await Promise.all(
        Array.from({length: 20}, () =>
          api.inject({
            method: 'GET',
            url: '/v1/facts',
            remoteAddress: '10.0.0.7',
            headers: {authorization: 'Bearer wrong-token-0123456789'},
          }),
        ),
      )
      expect(tries.filter((r) => r.statusCode === 401).length).toBeLessThanOrEqual(10)
      expect(
        (
          await api.inject({
            method: 'GET',
            url: '/v1/facts',
            remoteAddress: '10.0.0.7',
            headers: {authorization: `Bearer ${TOKEN}`},
          })
        ).statusCode,
      ).toBe(429)
      expect(lines.some((l) => /failed login to the agent API from 10\.0\.0\.7/.test(l))).toBe(true)
    } finally {
      await api.close()
    }
  })
})
