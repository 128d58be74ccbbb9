import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {checkInstancesKept} from '../../src/broker/catalog-checks.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {StoredCatalog} from '../../src/broker/stored-catalog.js'
import {parseCatalog} from '../../src/catalog/index.js'
import type {OsbError} from '../../src/core/errors.js'
import {createLogger} from '../../src/core/log.js'
import type {ServiceInstance} from '../../src/core/types.js'
import {openStore} from '../../src/store/index.js'
import {type BrokerProcess, loadBrokerConfig, startBrokerProcess} from '../../src/system/broker.js'
import {FakeAgent, KV} from '../helpers/fake-agent.js'
import {fakeLifecycle} from '../helpers/lifecycle.js'
import {CACHE, cacheServiceYaml} from '../helpers/runtime-catalog.js'
import {REDIS} from '../helpers/system.js'

const OSB = {username: 'broker', password: 'osb-password-0123'}
const ADMIN = {username: 'ops', password: 'admin-password-0123'}
const basic = ({username, password}: typeof OSB) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

/** The cache service of the fixture, as the API takes it (the file's shape, one service). */
const cacheService = (yaml = cacheServiceYaml()) =>
  parseCatalog(yaml, 'cache.yml').definition.services[0] as unknown as Record<string, unknown>

describe('the catalog in the store, changed through /admin/v1/catalog/services (SQLite)', () => {
  let dir: string
  let catalogFile: string
  let broker: BrokerProcess
  const logged: string[] = []

  const start = () =>
    startBrokerProcess(
      loadBrokerConfig(undefined, {
        osb: OSB,
        admin: ADMIN,
        store: `sqlite:${path.join(dir, 'dbroker.db')}`,
        listen: '127.0.0.1:0',
        catalog: catalogFile,
      }),
      createLogger('info', (line) => logged.push(line)),
    )
  const admin = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${broker.url}/admin/v1/catalog/services${route}`, {
      method,
      headers: {
        authorization: basic(ADMIN),
        ...(body === undefined ? {} : {'content-type': 'application/json'}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return {status: response.status, body: (await response.json()) as Record<string, any>}
  }
  const osbCatalog = async () => {
    const response = await fetch(`${broker.url}/v2/catalog`, {
      headers: {authorization: basic(OSB), 'x-broker-api-version': '2.17'},
    })
    const body = (await response.json()) as {services: Array<{name: string; plans: Array<{name: string}>}>}
    return {etag: response.headers.get('etag'), names: body.services.map((s) => s.name), body}
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    // The default catalog's redis only, so a changed copy is easy to make.
    const full = readFileSync(path.resolve('images/catalog.yml'), 'utf8')
    catalogFile = path.join(dir, 'catalog.yml')
    writeFileSync(catalogFile, full.slice(0, full.indexOf('  - id: a43935f6')).replaceAll('build: redis', 'build: /x'))
    broker = await start()
  })
  afterAll(async () => {
    await broker?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('the file seeds the empty store: generation 1, its services at version 1', async () => {
    const {status, body} = await admin('GET', '')
    expect(status).toBe(200)
    expect(body.generation).toBe(1)
    expect(body.services.map((s: {name: string; version: number}) => [s.name, s.version])).toEqual([['redis', 1]])
    expect(logged.join('\n')).toMatch(/catalog was seeded from .*catalog\.yml/)
  })

  it("the platform's OSB credentials change nothing: 401 on every catalog route", async () => {
    for (const [method, route] of [
      ['GET', ''],
      ['POST', ''],
      ['PUT', '/redis'],
      ['DELETE', '/redis'],
    ]) {
      const response = await fetch(`${broker.url}/admin/v1/catalog/services${route}`, {
        method,
        headers: {authorization: basic(OSB), 'content-type': 'application/json'},
        body: method === 'POST' || method === 'PUT' ? JSON.stringify({version: 1, service: cacheService()}) : undefined,
      })
      expect(response.status, `${method} ${route}`).toBe(401)
    }
    expect((await admin('GET', '')).body.generation).toBe(1)
  })

  it('a service added is in GET /v2/catalog at once, with a new ETag', async () => {
    const before = await osbCatalog()
    const added = await admin('POST', '', {service: cacheService()})
    expect(added.status).toBe(201)
    expect(added.body).toMatchObject({generation: 2, changed: true, service: {name: 'cache', version: 1}})
    const after = await osbCatalog()
    expect(after.names).toEqual(['redis', 'cache'])
    expect(after.etag).not.toBe(before.etag)
    // dbroker's own plan fields stay out of the OSB catalog, as for the file's services.
    expect(JSON.stringify(after.body)).not.toContain('"container"')
    expect((await admin('POST', '', {service: cacheService()})).status).toBe(409)
  })

  it('a bad service is a 400 naming the field; nothing is stored and the generation stays', async () => {
    const bad = {...cacheService(), name: 'other', id: 'not-a-uuid'}
    const refused = await admin('POST', '', {service: bad})
    expect(refused.status).toBe(400)
    expect(refused.body.problems).toEqual([{path: 'service.id', message: 'must be a UUID'}])
    expect(refused.body.description).toMatch(/service\.id: must be a UUID/)
    const clash = cacheService()
    ;(clash as {id: string}).id = '0d1c0a3e-8f0b-4c57-9a57-1f4d2c6b7e09'
    clash.name = 'clash'
    ;(clash.plans as Array<{id: string}>)[0].id = REDIS.plan_id
    const clashed = await admin('POST', '', {service: clash})
    expect(clashed.status).toBe(400)
    expect(clashed.body.problems).toEqual([
      {
        path: 'service.plans[0].id',
        message: `id ${REDIS.plan_id} is already used at service "redis" plans[0].id`,
      },
    ])
    const relative: Record<string, unknown> = {
      ...cacheService(),
      name: 'rel',
      id: '1d1c0a3e-8f0b-4c57-9a57-1f4d2c6b7e09',
    }
    ;(relative.plans as Array<{id: string; container: {build: unknown}}>)[0].container.build = 'redis'
    expect((await admin('POST', '', {service: relative})).body.problems[0].path).toBe(
      'service.plans[0].container.build',
    )
    const list = await admin('GET', '')
    expect(list.body.generation).toBe(2)
    expect(list.body.services.map((s: {name: string}) => s.name)).toEqual(['redis', 'cache'])
  })

  it('PUT replaces a service at its version; a stale version is a 409 that changes nothing', async () => {
    const changed = cacheService(cacheServiceYaml({plans: 2, description: 'Two sizes'}))
    const ok = await admin('PUT', '/cache', {version: 1, service: changed})
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({generation: 3, changed: true, service: {version: 2}})
    const stale = await admin('PUT', '/cache', {version: 1, service: cacheService()})
    expect(stale.status).toBe(409)
    expect(stale.body.description).toMatch(/service cache is at version 2, not 1/)
    const same = await admin('PUT', `/${CACHE.service_id}`, {version: 2, service: changed})
    expect(same.body).toMatchObject({generation: 3, changed: false, service: {version: 2}})
    expect((await osbCatalog()).body.services[1].plans.map((p) => p.name)).toEqual(['small', 'large'])
    expect((await admin('PUT', '/nope', {version: 1, service: changed})).status).toBe(404)
    expect((await admin('PUT', '/cache', {service: changed})).status).toBe(400)
  })

  it('DELETE at a stale version is a 409; at the current one the service goes; the last one stays', async () => {
    expect((await admin('DELETE', '/cache?version=1')).status).toBe(409)
    const gone = await admin('DELETE', '/cache?version=2')
    expect(gone.status).toBe(200)
    expect((await osbCatalog()).names).toEqual(['redis'])
    const last = await admin('DELETE', '/redis')
    expect(last.status).toBe(409)
    expect(last.body.description).toMatch(/last: a catalog needs at least one service/)
  })

  it('after a restart the store wins over a changed file, which is a warning naming the service and how to apply it', async () => {
    expect((await admin('POST', '', {service: cacheService()})).status).toBe(201)
    await broker.close()
    writeFileSync(catalogFile, readFileSync(catalogFile, 'utf8').replace('Redis key-value store', 'Changed text'))
    logged.length = 0
    broker = await start()
    expect((await osbCatalog()).names).toEqual(['redis', 'cache'])
    expect(JSON.stringify((await osbCatalog()).body)).not.toContain('Changed text')
    expect(logged.join('\n')).toMatch(
      /catalog file .*catalog\.yml differs from the store's catalog.*: redis changed in the file; apply the file with `dbroker services update .*catalog\.yml`/,
    )
  })
})

describe('what a catalog change may do to plans with instances', () => {
  const service = {
    id: CACHE.service_id,
    name: 'cache',
    plans: [
      {id: CACHE.plan_id, name: 'small'},
      {id: CACHE.second_plan_id, name: 'large'},
    ],
  }
  const instances = [
    {id: 'i-1', name: 'sessions', serviceId: CACHE.service_id, planId: CACHE.second_plan_id},
    {id: 'i-2', name: null, serviceId: REDIS.service_id, planId: REDIS.plan_id},
  ] as ServiceInstance[]
  const refusal = (run: () => void) => {
    try {
      run()
    } catch (error) {
      return error as OsbError
    }
    throw new Error('not refused')
  }

  it('keeps every plan an instance has: dropping it, changing its id or the service id, or removing the service is a 409 naming it', () => {
    const small = {...service, plans: [service.plans[0]]}
    const dropped = refusal(() => checkInstancesKept(instances, service, small))
    expect(dropped.status).toBe(409)
    expect(dropped.message).toBe(
      'service cache cannot drop a plan: plan large of cache has instances: sessions (i-1); deprovision them first',
    )
    expect(dropped.extra).toEqual({instances: [{id: 'i-1', name: 'sessions', planId: CACHE.second_plan_id}]})
    expect(refusal(() => checkInstancesKept(instances, service, undefined)).message).toMatch(/cache cannot be removed/)
    const moved = {...service, id: '0d1c0a3e-8f0b-4c57-9a57-1f4d2c6b7e09'}
    expect(refusal(() => checkInstancesKept(instances, service, moved)).message).toMatch(/cannot change its id/)
  })

  it('lets a change through that keeps those plans (the other plan may go, the texts may change)', () => {
    const renamed = {...service, name: 'sessions-cache', plans: [{...service.plans[1], name: 'big'}]}
    expect(() => checkInstancesKept(instances, service, renamed)).not.toThrow()
    expect(() => checkInstancesKept([], service, undefined)).not.toThrow()
  })
})

describe('a catalog swapped while provisions run', () => {
  const body = {...KV, organization_guid: 'o', space_guid: 's'}
  const meta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

  it('a provision whose plan went before it was placed is refused and leaves no row', async () => {
    const {store, provisioner, catalog} = await fakeLifecycle(new FakeAgent())
    const other = parseCatalog(cacheServiceYaml(), 'cache.yml').definition
    const provisioning = provisioner.provision('i-late', body, meta)
    // What a removal does under placement's lock, before the provision's transaction takes it.
    catalog.replace(other)
    await expect(provisioning).rejects.toThrow(`plan ${KV.plan_id} was removed from the catalog meanwhile`)
    expect(await store.getInstance('i-late')).toBeUndefined()
    await store.close()
  })

  it('a provision already placed goes on with the plan it started with', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const agent = new (class extends FakeAgent {
      override async apply(spec: Parameters<FakeAgent['apply']>[0]) {
        await gate
        return super.apply(spec)
      }
    })()
    const {store, provisioner, catalog} = await fakeLifecycle(agent)
    const provisioning = provisioner.provision('i-early', body, meta)
    await vi.waitFor(async () => expect((await store.getInstance('i-early'))?.state).toBe('provisioning'))
    const before = (await store.getInstance('i-early'))!.spec.image
    const changed = structuredClone(catalog.definition)
    changed.services[0].plans[0].container!.image = 'other/image:1'
    catalog.replace(changed)
    release()
    expect((await provisioning).status).toBe(201)
    const instance = (await store.getInstance('i-early'))!
    expect(instance.state).toBe('ready')
    expect(instance.spec.image).toBe(before)
    expect(catalog.plan(KV.plan_id)?.plan.container!.image).toBe('other/image:1')
    await store.close()
  })
})

describe("another broker's change, heard or missed", () => {
  it('a catalog event or a resync has the broker read the newer catalog from the store; an older or equal one is left', async () => {
    const store = await openStore('sqlite::memory:')
    const log = createLogger('silent')
    const file = () => parseCatalog(readFileSync(path.resolve('images/catalog.yml'), 'utf8'), 'catalog.yml')
    const a = await StoredCatalog.open(store, file(), log)
    const b = await StoredCatalog.open(store, file(), log)
    const [eventsA, eventsB] = [new BrokerEvents(), new BrokerEvents()]
    a.follow(eventsA)
    b.follow(eventsB)
    await a.add(cacheService())
    expect(b.catalog.serviceByName('cache')).toBeUndefined()
    // The notice was lost (the channel reconnected): the bridge's resync is enough.
    eventsB.emitChange({kind: 'resync', id: 'broker-b', action: 'resync'})
    await vi.waitFor(() => expect(b.catalog.serviceByName('cache')?.plans[0].id).toBe(CACHE.plan_id))
    const revision = b.catalog.revision
    eventsB.emitChange({kind: 'catalog', id: 'cache', action: 'added'})
    await b.reload()
    expect(b.catalog.revision).toBe(revision)
    await store.close()
  })
})
