import {chmodSync, mkdtempSync, rmSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ContainerSpec} from '../../src/core/types.js'
import {openStore, type Store} from '../../src/store/index.js'
import {generateStoreKey} from '../../src/store/secrets.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const PG_PORT = 45400 + Math.floor(Math.random() * 100)

const spec = (container: string, env: Record<string, string> = {}): ContainerSpec => ({
  instanceId: `deploy:shop:h1:${container}`,
  name: `dbroker.shop.${container}`,
  image: 'dbroker/redis:7',
  env,
  ports: [{container: 6379, host: 41000, protocol: 'tcp'}],
  bindAddress: '127.0.0.1',
  volumes: [],
  restart: 'always',
  labels: {},
  readiness: {probe: 'none', timeoutMs: 1000},
  hooks: {},
})

const host = {
  id: 'h1',
  serviceAddress: '127.0.0.1',
  bindAddress: '127.0.0.1',
  agentUrl: null,
  portMin: 41000,
  portMax: 41009,
  zone: null,
  labels: {},
  facts: null,
}

const dialects: Array<[string, () => Promise<Store>]> = []
let dir: string
let postgres: TestPostgres | undefined

beforeAll(() => {
  dir = mkdtempSync('/tmp/dbdeploy-store-')
  chmodSync(dir, 0o755) // the postgres user walks through it
  postgres = startPostgres(path.join(dir, 'pg'), PG_PORT)
})
afterAll(() => {
  postgres?.stop()
  rmSync(dir, {recursive: true, force: true})
})

let databases = 0
dialects.push(['SQLite', () => openStore('sqlite::memory:')])
dialects.push([
  'PostgreSQL',
  async () => {
    const db = `deploy${databases++}`
    postgres!.createDatabase(db)
    return openStore(postgres!.url(db), {keys: [generateStoreKey()]})
  },
])

describe.each(dialects)('the deployments repository on %s', (_dialect, open) => {
  it('stores a deployment with its containers, counts versions, and updates a container in place', async () => {
    const store = await open()
    try {
      await store.upsertHost(host)
      const first = await store.deployments.save({name: 'shop', file: 'shop.yml', manifest: 'name: shop\n'}, [
        {instanceId: spec('db').instanceId, hostId: 'h1', name: 'db', spec: spec('db'), state: 'pending'},
        {instanceId: spec('app').instanceId, hostId: 'h1', name: 'app', spec: spec('app'), state: 'pending'},
      ])
      expect(first).toBe(1)
      await store.deployments.setState(spec('db').instanceId, 'ready')
      const second = await store.deployments.save({name: 'shop', file: 'shop.yml', manifest: 'name: shop # 2\n'}, [
        {
          instanceId: spec('db').instanceId,
          hostId: 'h1',
          name: 'db',
          spec: {...spec('db'), memoryBytes: 1},
          state: 'pending',
        },
      ])
      expect(second).toBe(2)
      expect(await store.deployments.get('shop')).toMatchObject({
        name: 'shop',
        version: 2,
        manifest: 'name: shop # 2\n',
      })
      const rows = await store.deployments.containers({deployment: 'shop'})
      expect(rows.map((r) => [r.name, r.state, r.spec.memoryBytes])).toEqual(
        expect.arrayContaining([
          ['db', 'pending', 1],
          ['app', 'pending', undefined],
        ]),
      )
      expect((await store.deployments.containers({hostId: 'h1', states: ['pending']})).length).toBe(2)
      expect(await store.deployments.containers({hostId: 'other'})).toEqual([])
    } finally {
      await store.close()
    }
  })

  it('a container goes with its host ports; the deployment goes only once it has no container', async () => {
    const store = await open()
    try {
      const h = await store.upsertHost(host)
      await store.transaction(async (trx) => {
        await trx.allocatePorts(h, spec('db').instanceId, [6379])
        await trx.deployments.save({name: 'shop', file: 'shop.yml', manifest: 'name: shop\n'}, [
          {instanceId: spec('db').instanceId, hostId: 'h1', name: 'db', spec: spec('db'), state: 'ready'},
        ])
      })
      expect(await store.deployments.delete('shop')).toBe(false)
      await store.deployments.deleteContainer(spec('db').instanceId)
      expect(await store.portsOf(spec('db').instanceId)).toEqual([])
      expect(await store.deployments.delete('shop')).toBe(true)
      expect(await store.deployments.list()).toEqual([])
    } finally {
      await store.close()
    }
  })

  it('a transaction that fails after the save leaves no deployment, container or port', async () => {
    const store = await open()
    try {
      const h = await store.upsertHost(host)
      const failed = await store
        .transaction(async (trx) => {
          await trx.allocatePorts(h, spec('db').instanceId, [6379])
          await trx.deployments.save({name: 'shop', file: 'shop.yml', manifest: 'x'}, [
            {instanceId: spec('db').instanceId, hostId: 'h1', name: 'db', spec: spec('db'), state: 'pending'},
          ])
          throw new Error('the port range is full')
        })
        .catch((e: unknown) => e)
      expect(failed).toBeInstanceOf(Error)
      expect(await store.deployments.list()).toEqual([])
      expect(await store.deployments.containers()).toEqual([])
      expect(await store.portsOf(spec('db').instanceId)).toEqual([])
    } finally {
      await store.close()
    }
  })

  it('the manifest and the specs are sealed at rest: an env secret is not in the rows', async () => {
    const store = await open()
    try {
      await store.upsertHost(host)
      await store.deployments.save({name: 'shop', file: 'shop.yml', manifest: 'env: {PASSWORD: hunter2-secret}\n'}, [
        {
          instanceId: spec('db').instanceId,
          hostId: 'h1',
          name: 'db',
          spec: spec('db', {PASSWORD: 'hunter2-secret'}),
          state: 'ready',
        },
      ])
      const raw = JSON.stringify([
        await store.db.selectFrom('deployments').selectAll().execute(),
        await store.db.selectFrom('deployment_containers').selectAll().execute(),
      ])
      expect(raw).not.toContain('hunter2')
      expect((await store.deployments.container(spec('db').instanceId))?.spec.env).toEqual({PASSWORD: 'hunter2-secret'})
    } finally {
      await store.close()
    }
  })
})
