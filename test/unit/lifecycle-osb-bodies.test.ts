import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {buildBrokerApp} from '../../src/broker/app.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {createLogger} from '../../src/core/log.js'
import type {Store} from '../../src/store/index.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'
import {fakeLifecycle} from '../helpers/lifecycle.js'

const credentials = {username: 'broker', password: 'broker-password-0123456789'}
const authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`

/** The broker's real app over an in-memory store and an agent without Docker. */
async function brokerApp(
  catalog = kvCatalog(),
): Promise<{app: FastifyInstance; store: Store; provisioner: Provisioner}> {
  const {store, provisioner} = await fakeLifecycle(new FakeAgent(), catalog)
  const log = createLogger('silent')
  const app = buildBrokerApp({catalog, provisioner, credentials, log, health: async () => {}})
  return {app, store, provisioner}
}

const osb = (
  app: FastifyInstance,
  method: 'GET' | 'PUT',
  url: string,
  version: string,
  payload?: object,
  headers: Record<string, string> = {},
) => app.inject({method, url, payload, headers: {authorization, 'x-broker-api-version': version, ...headers}})

describe('GET /v2/catalog in each dialect', () => {
  let t: Awaited<ReturnType<typeof brokerApp>>
  beforeEach(async () => {
    t = await brokerApp(loadCatalog())
  })
  afterEach(async () => {
    await t.app.close()
    await t.store.close()
  })

  it('a 2.13 platform gets no field that 2.14 introduced: instances_retrievable, bindings_retrievable, maintenance_info', async () => {
    const old = (await osb(t.app, 'GET', '/v2/catalog', '2.13')).json()
    const current = (await osb(t.app, 'GET', '/v2/catalog', '2.14')).json()
    for (const service of old.services) {
      expect(Object.keys(service)).not.toContain('instances_retrievable')
      expect(Object.keys(service)).not.toContain('bindings_retrievable')
      for (const plan of service.plans) expect(Object.keys(plan)).not.toContain('maintenance_info')
    }
    expect(current.services[0]).toMatchObject({instances_retrievable: true, bindings_retrievable: true})
    expect(current.services[0].plans[0].maintenance_info).toEqual({
      version: '1.0.0',
      description: 'Redis 7 on Debian bookworm',
    })
  })

  it("never shows what is dbroker's own: how a plan runs, where it may go, async_only, requires_app", async () => {
    for (const version of ['2.13', '2.17']) {
      const body = (await osb(t.app, 'GET', '/v2/catalog', version)).body
      for (const field of ['"container"', '"async_only"', '"requires_app"', '"placement"'])
        expect(body, `${version} ${field}`).not.toContain(field)
    }
  })

  it('tags each dialect with its own ETag and answers a matching If-None-Match with 304 and no body', async () => {
    const old = await osb(t.app, 'GET', '/v2/catalog', '2.13')
    const current = await osb(t.app, 'GET', '/v2/catalog', '2.17')
    expect(old.headers.etag).toMatch(/^"[\w-]{27}"$/)
    expect(old.headers.etag).not.toBe(current.headers.etag)
    expect(current.headers['content-type']).toBe('application/json; charset=utf-8')
    const again = await osb(t.app, 'GET', '/v2/catalog', '2.17', undefined, {
      'if-none-match': `W/${current.headers.etag}`,
    })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    // Another dialect's tag is not a match.
    expect(
      (await osb(t.app, 'GET', '/v2/catalog', '2.17', undefined, {'if-none-match': String(old.headers.etag)}))
        .statusCode,
    ).toBe(200)
  })

  it('still checks credentials and the version header first', async () => {
    expect(
      (await t.app.inject({method: 'GET', url: '/v2/catalog', headers: {'x-broker-api-version': '2.17'}})).statusCode,
    ).toBe(401)
    expect((await osb(t.app, 'GET', '/v2/catalog', '2.12')).statusCode).toBe(412)
    expect((await t.app.inject({method: 'GET', url: '/v2/catalog', headers: {authorization}})).json()).toEqual({
      description: 'the X-Broker-API-Version header is required (2.13 to 2.17)',
    })
  })

  it('after the right credentials passed, any other header is still refused, however close to them', async () => {
    const get = (header: string) =>
      t.app.inject({
        method: 'GET',
        url: '/v2/catalog',
        headers: {authorization: header, 'x-broker-api-version': '2.17'},
      })
    expect((await get(authorization)).statusCode).toBe(200)
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
    for (const wrong of [
      basic(credentials.username, `${credentials.password}x`),
      basic(credentials.username, credentials.password.slice(0, -1)),
      basic('admin', credentials.password),
      authorization.toLowerCase(),
      `Bearer ${authorization.slice(6)}`,
    ]) {
      expect((await get(wrong)).statusCode, wrong).toBe(401)
    }
    expect((await get(authorization)).statusCode).toBe(200)
  })
})

describe('binding bodies', () => {
  let t: Awaited<ReturnType<typeof brokerApp>>
  const base = '/v2/service_instances/i1'
  beforeEach(async () => {
    t = await brokerApp()
    expect((await osb(t.app, 'PUT', base, '2.17', {...KV, organization_guid: 'o', space_guid: 's'})).statusCode).toBe(
      201,
    )
  })
  afterEach(async () => {
    await t.provisioner.drain(5000)
    await t.app.close()
    await t.store.close()
  })

  it('PUT answers only the fields the spec gives a binding response: no parameters, which belong to GET', async () => {
    const created = await osb(t.app, 'PUT', `${base}/service_bindings/b1`, '2.17', {...KV, parameters: {}})
    expect(created.statusCode).toBe(201)
    expect(Object.keys(created.json()).sort()).toEqual(['credentials', 'endpoints', 'metadata'])
    // The same PUT again answers 200 with the same fields.
    const again = await osb(t.app, 'PUT', `${base}/service_bindings/b1`, '2.17', {...KV, parameters: {}})
    expect(again.statusCode).toBe(200)
    expect(Object.keys(again.json()).sort()).toEqual(['credentials', 'endpoints', 'metadata'])
    const fetched = await osb(t.app, 'GET', `${base}/service_bindings/b1`, '2.17')
    expect(fetched.json()).toMatchObject({parameters: {}, credentials: created.json().credentials})
  })

  it('a 2.13 platform gets the credentials alone', async () => {
    const created = await osb(t.app, 'PUT', `${base}/service_bindings/b1`, '2.13', {...KV})
    expect(Object.keys(created.json())).toEqual(['credentials'])
    expect(created.json().credentials).toMatchObject({
      host: '10.0.0.2',
      port: 40000,
      username: expect.any(String),
      password: expect.any(String),
    })
  })
})

describe('ids a platform may not use', () => {
  it('an instance id in the manifest namespace (deploy:...) is a 400 and makes nothing', async () => {
    const t = await brokerApp()
    try {
      for (const id of ['deploy:redis', 'deploy:shop:h1:web']) {
        const put = await osb(t.app, 'PUT', `/v2/service_instances/${encodeURIComponent(id)}`, '2.17', {
          ...KV,
          organization_guid: 'o',
          space_guid: 's',
        })
        expect(put.statusCode).toBe(400)
        expect(put.json().description).toMatch(/deploy:/)
        expect(await t.store.getInstance(id)).toBeUndefined()
      }
    } finally {
      await t.app.close()
      await t.store.close()
    }
  })
})
