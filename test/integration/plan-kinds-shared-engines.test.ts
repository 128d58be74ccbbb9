import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {defaultCatalogPath} from '../../src/catalog/index.js'
import {psql, psqlError, redis} from '../helpers/clients.js'
import {labelled} from '../helpers/docker.js'
import {POSTGRES, REDIS, ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

const REDIS_SHARED = {service_id: REDIS.service_id, plan_id: '5d7c2a90-6b1e-4f3a-9c8d-0e1f2a3b4c5d'}
const PG_SHARED = {service_id: POSTGRES.service_id, plan_id: '8e9f0a1b-2c3d-4e5f-8a6b-7c8d9e0f1a2b'}
/** The images with the JSON executables, as `DBROKER_KINDS_IMAGE_SUFFIX` tags them (default: the catalog's own). */
const SUFFIX = process.env.DBROKER_KINDS_IMAGE_SUFFIX ?? ''

describe('shared redis and postgresql plans: tenants of one container', () => {
  let t: TestSystem
  const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-kinds-engines-'))

  beforeAll(async () => {
    const file = path.join(dir, 'catalog.yml')
    writeFileSync(
      file,
      readFileSync(defaultCatalogPath, 'utf8')
        .replace(/image: (dbroker\/(redis:7|postgresql:15))$/gm, `image: $1${SUFFIX}`)
        .replace(
          /build: (redis|postgresql|mariadb)$/gm,
          (_, d) => `build: ${path.join(path.dirname(defaultCatalogPath), d)}`,
        ),
    )
    t = await startTestSystem({catalogFile: file, portRange: [46960, 46979]})
  })
  afterAll(async () => {
    await t?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  const tenants = async (plan: typeof REDIS_SHARED) => {
    const [a, b] = [testId(), testId()]
    for (const id of [a, b]) expect((await t.osb.provision(id, {...plan, ...ORG})).status).toBe(201)
    const bind = async (id: string) => {
      const bound = await t.osb.bind(id, testId('b'), plan)
      expect(bound.status, JSON.stringify(bound.body)).toBe(201)
      return bound.body.credentials as Record<string, string> & {uri: string; port: number}
    }
    return {ids: [a, b], a: await bind(a), b: await bind(b)}
  }
  const shared = async (name: string) =>
    (await labelled(undefined, t.system.installationId)).containers.filter((c) => c.Labels['dbroker.shared'] === name)

  it('redis: each instance is a key prefix; a binding of A cannot list, read or change B keys or users', async () => {
    const {ids, a, b} = await tenants(REDIS_SHARED)
    expect(a.port).toBe(b.port)
    expect(a.key_prefix).toMatch(/^i[0-9a-f]{12}:$/)
    expect(a.key_prefix).not.toBe(b.key_prefix)
    expect(redis(a.uri, 'SET', `${a.key_prefix}k`, 'a-secret')).toBe('OK')
    expect(redis(b.uri, 'SET', `${b.key_prefix}k`, 'b-secret')).toBe('OK')
    expect(redis(a.uri, 'GET', `${b.key_prefix}k`)).toMatch(/NOPERM/)
    expect(redis(a.uri, 'SET', `${b.key_prefix}k`, 'taken')).toMatch(/NOPERM/)
    expect(redis(a.uri, 'DEL', `${b.key_prefix}k`)).toMatch(/NOPERM/)
    expect(redis(a.uri, 'KEYS', '*')).toMatch(/NOPERM/)
    expect(redis(a.uri, 'FLUSHALL')).toMatch(/NOPERM/)
    expect(redis(a.uri, 'ACL', 'LIST')).toMatch(/NOPERM/)
    expect(redis(a.uri, 'ACL', 'SETUSER', b.username, 'on', '>taken0ver')).toMatch(/NOPERM/)
    expect(redis(a.uri, 'PUBLISH', `${b.key_prefix}ch`, 'x')).toMatch(/NOPERM/)
    expect(redis(b.uri, 'GET', `${b.key_prefix}k`)).toBe('b-secret')

    expect((await t.osb.deprovision(ids[0], REDIS_SHARED)).status).toBe(200)
    expect(redis(a.uri, 'PING')).toMatch(/WRONGPASS|invalid|NOAUTH/)
    expect(redis(b.uri, 'GET', `${b.key_prefix}k`)).toBe('b-secret')
    expect(await shared('redis-shared')).toHaveLength(1)
    expect((await t.osb.deprovision(ids[1], REDIS_SHARED)).status).toBe(200)
    expect(await shared('redis-shared')).toHaveLength(0)
  })

  it('postgresql: each instance is a database; a binding of A cannot connect to, read or change B, nor its roles', async () => {
    const {ids, a, b} = await tenants(PG_SHARED)
    expect(a.port).toBe(b.port)
    expect(a.database).not.toBe(b.database)
    psql(a.uri, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('a-secret')")
    psql(b.uri, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('b-secret')")
    const intoB = a.uri.replace(`/${a.database}`, `/${b.database}`)
    expect(psqlError(intoB, 'SELECT 1')).toMatch(/permission denied|not permitted|no pg_hba/)
    expect(psqlError(a.uri, `ALTER ROLE "${b.username}" PASSWORD 'taken0ver'`)).toMatch(/permission denied|must be/)
    expect(psqlError(a.uri, `DROP ROLE "${b.username}"`)).toMatch(/permission denied|must be/)
    expect(psqlError(a.uri, `DROP DATABASE "${b.database}"`)).toMatch(/must be owner|permission denied/)
    expect(psqlError(a.uri, `GRANT CONNECT ON DATABASE "${b.database}" TO "${a.username}"`)).toMatch(
      /permission denied/,
    )
    expect(psql(b.uri, 'SELECT v FROM secrets')).toBe('b-secret')

    expect((await t.osb.deprovision(ids[0], PG_SHARED)).status).toBe(200)
    expect(psqlError(a.uri, 'SELECT 1')).toMatch(/authentication failed|does not exist/)
    expect(psql(b.uri, 'SELECT v FROM secrets')).toBe('b-secret')
    expect(psql(b.uri, `SELECT count(*) FROM pg_database WHERE datname = '${a.database}'`)).toBe('0')
    expect(psql(b.uri, `SELECT count(*) FROM pg_roles WHERE rolname = '${a.username}'`)).toBe('0')
    expect(await shared('postgresql-shared')).toHaveLength(1)
    expect((await t.osb.deprovision(ids[1], PG_SHARED)).status).toBe(200)
    expect(await shared('postgresql-shared')).toHaveLength(0)
  })
})
