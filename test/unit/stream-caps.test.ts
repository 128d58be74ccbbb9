import http from 'node:http'

import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {adminRoutes} from '../../src/broker/admin/index.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerEvents} from '../../src/broker/events.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {silentLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'

const ADMIN = {username: 'admin', password: 'admin-password-1'}

describe('event streams per client', () => {
  let app: FastifyInstance
  let store: Store
  let url: string
  const requests: http.ClientRequest[] = []

  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    const catalog = loadCatalog()
    const provisioner = {} as Provisioner
    app = buildBrokerApp({
      catalog,
      provisioner,
      credentials: {username: 'broker', password: 'broker-password'},
      log: silentLogger,
      health: async () => undefined,
      plugins: [
        adminRoutes({
          store,
          catalog,
          provisioner,
          events: new BrokerEvents(),
          agentFor: () => ({}) as never,
          credentials: ADMIN,
          keepaliveMs: 60_000,
          log: silentLogger,
        }),
      ],
    })
    url = await app.listen({host: '127.0.0.1', port: 0})
  })
  afterEach(async () => {
    for (const request of requests.splice(0)) request.destroy()
    await app.close()
    await store.close()
  })

  /** Opens the event stream with node:http, so the test decides when its socket goes. */
  const events = () =>
    new Promise<{status: number; body: () => Promise<string>; close: () => void}>((resolve, reject) => {
      const request = http.get(
        `${url}/admin/v1/events`,
        {
          agent: false,
          headers: {authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`},
        },
        (response) => {
          const body = () =>
            new Promise<string>((done) => {
              let text = ''
              response.on('data', (chunk) => (text += chunk))
              response.on('end', () => done(text))
            })
          resolve({status: response.statusCode ?? 0, body, close: () => request.destroy()})
        },
      )
      request.on('error', reject)
      requests.push(request)
    })

  it('a client holds at most 8 open at once: the ninth is a 429 until one closes', async () => {
    const open = await Promise.all(Array.from({length: 8}, () => events()))
    expect(open.map((s) => s.status)).toEqual(Array(8).fill(200))
    const ninth = await events()
    expect(ninth.status).toBe(429)
    expect(JSON.parse(await ninth.body()).description).toMatch(/at most 8 event and log streams per client/)

    open[0].close()
    await vi.waitFor(async () => {
      const again = await events()
      if (again.status !== 200) again.close()
      expect(again.status).toBe(200)
    })
  })
})
