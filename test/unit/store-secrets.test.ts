import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import SQLite from 'better-sqlite3'
import {Kysely, Migrator, SqliteDialect} from 'kysely'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {Binding, ServiceInstance} from '../../src/core/types.js'
import {openStore, type Store} from '../../src/store/index.js'
import * as initial from '../../src/store/migrations/001_initial.js'
import * as multihost from '../../src/store/migrations/002_multihost.js'
import * as spareUsers from '../../src/store/migrations/003_spare_users.js'
import {
  generateStoreKey,
  parseStoreKey,
  readStoreKeyFile,
  SecretCipher,
  StoreKeyError,
} from '../../src/store/secrets.js'
import {rotateStoreKey} from '../../src/system/store-key-rotation.js'

const PASSWORD = 'Pw0rdInstanceSecret9f8e7d6c5b4a3210'
const BINDING_PASSWORD = 'Pw0rdBindingSecret0a1b2c3d4e5f6789'
const SPARE_PASSWORD = 'Pw0rdSpareSecret77665544332211aabb'
const PARAMETER = 'ParamSecretValue1234567890'

function instance(id = 'i-1'): ServiceInstance {
  return {
    id,
    serviceId: 's',
    planId: 'p',
    hostId: 'local',
    state: 'ready',
    organizationGuid: 'o',
    spaceGuid: 's',
    parameters: {token: PARAMETER},
    context: {},
    maintenanceInfo: null,
    credentials: {username: 'owner', password: PASSWORD},
    spec: {
      instanceId: id,
      name: `dbroker-redis-${id}`,
      image: 'dbroker/redis:7',
      env: {REDIS_PASSWORD: PASSWORD, PARAM: PARAMETER},
      ports: [{container: 6379, host: 40000, protocol: 'tcp'}],
      bindAddress: '127.0.0.1',
      volumes: [],
      memoryBytes: 64 * 1024 * 1024,
      restart: 'always',
      labels: {},
      readiness: {probe: 'none', timeoutMs: 1000},
      hooks: {},
    },
    dashboardUrl: null,
    name: 'cache',
    createdAt: 1,
    updatedAt: 1,
  }
}

const binding = (id = 'b-1', instanceId = 'i-1'): Binding => ({
  id,
  instanceId,
  serviceId: 's',
  planId: 'p',
  state: 'bound',
  appGuid: null,
  bindResource: null,
  parameters: {},
  context: {},
  credentials: {
    host: '127.0.0.1',
    port: 40000,
    username: 'b1',
    password: BINDING_PASSWORD,
    uri: `redis://b1:${BINDING_PASSWORD}@127.0.0.1:40000`,
  },
  createdAt: 2,
})

/** The bytes of the database and its WAL, as someone who copies the files reads them. */
const onDisk = (file: string) =>
  ['', '-wal']
    .map((suffix) => {
      try {
        return readFileSync(file + suffix).toString('latin1')
      } catch {
        return ''
      }
    })
    .join('')

async function fill(store: Store): Promise<void> {
  await store.upsertHost({
    id: 'local',
    serviceAddress: '127.0.0.1',
    bindAddress: '127.0.0.1',
    agentUrl: null,
    portMin: 40000,
    portMax: 40010,
    zone: null,
    labels: {},
    facts: null,
  })
  await store.insertInstance(instance(), `{"parameters":{"token":"${PARAMETER}"}}`)
  await store.insertBinding(binding(), 'bind-key')
  await store.addSpareUser('i-1', {username: 'spare1', password: SPARE_PASSWORD})
}

describe('the store cipher', () => {
  it('round-trips, and a tampered value fails with an error that holds no secret', () => {
    const cipher = new SecretCipher([generateStoreKey()])
    const sealed = cipher.seal(PASSWORD, 'bindings.credentials:b-1')
    expect(sealed).not.toContain(PASSWORD)
    expect(sealed.startsWith(`dbx1.${cipher.keyId}.`)).toBe(true)
    expect(cipher.open(sealed, 'bindings.credentials:b-1')).toBe(PASSWORD)
    expect(cipher.seal(PASSWORD, 'x')).not.toBe(cipher.seal(PASSWORD, 'x'))

    const parts = sealed.split('.')
    const body = Buffer.from(parts[3], 'base64url')
    body[0] ^= 1
    const tampered = [...parts.slice(0, 3), body.toString('base64url')].join('.')
    expect(() => cipher.open(tampered, 'bindings.credentials:b-1')).toThrow(/fails its integrity check/)
    // A value copied into another row doesn't open there.
    expect(() => cipher.open(sealed, 'bindings.credentials:b-2')).toThrow(StoreKeyError)
  })

  it('a wrong key is named by its id, never by the secret or the key', () => {
    const right = generateStoreKey()
    const wrong = generateStoreKey()
    const sealed = new SecretCipher([right]).seal(PASSWORD, 'instances.credentials:i-1')
    let message = ''
    try {
      new SecretCipher([wrong]).open(sealed, 'instances.credentials:i-1')
    } catch (error) {
      expect(error).toBeInstanceOf(StoreKeyError)
      message = `${(error as StoreKeyError).message} ${(error as StoreKeyError).hint}`
    }
    expect(message).toContain(`sealed with store key ${right.id}`)
    expect(message).toContain(wrong.id)
    for (const secret of [PASSWORD, right.bytes.toString('hex'), wrong.bytes.toString('hex')])
      expect(message).not.toContain(secret)
    // With both keys (a rotation in progress) it opens.
    expect(new SecretCipher([wrong, right]).open(sealed, 'instances.credentials:i-1')).toBe(PASSWORD)
  })

  it('keys are 32 bytes as hex or base64; a bad one is refused without echoing it', () => {
    const key = generateStoreKey()
    expect(parseStoreKey(key.bytes.toString('hex'), 'x').id).toBe(key.id)
    expect(parseStoreKey(key.bytes.toString('base64'), 'x').id).toBe(key.id)
    expect(() => parseStoreKey('hunter2hunter2', 'DBROKER_STORE_KEY')).toThrow(/DBROKER_STORE_KEY is not a store key/)
    try {
      parseStoreKey('hunter2hunter2', 'DBROKER_STORE_KEY')
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2')
    }
  })
})

describe('secrets in a SQLite store', () => {
  let dir: string
  let store: Store | undefined
  const file = () => path.join(dir, 'dbroker.db')

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-secrets-'))
  })
  afterEach(async () => {
    await store?.close()
    store = undefined
    rmSync(dir, {recursive: true, force: true})
  })

  it('are encrypted on disk and read back; the files are 0600 and the key is made 0600 beside them', async () => {
    store = await openStore(`sqlite:${file()}`)
    await fill(store)
    expect((await store.getInstance('i-1'))?.credentials.password).toBe(PASSWORD)
    expect((await store.getInstance('i-1'))?.spec.env.REDIS_PASSWORD).toBe(PASSWORD)
    expect((await store.getInstance('i-1'))?.parameters).toEqual({token: PARAMETER})
    expect((await store.getBinding('b-1'))?.credentials.password).toBe(BINDING_PASSWORD)
    expect(await store.spareUsers('i-1')).toEqual([{username: 'spare1', password: SPARE_PASSWORD}])
    expect(await store.memoryByHost()).toEqual(new Map([['local', 64 * 1024 * 1024]]))

    const bytes = onDisk(file())
    expect(bytes).toContain('dbx1.')
    for (const secret of [PASSWORD, BINDING_PASSWORD, SPARE_PASSWORD, PARAMETER])
      expect(bytes, secret).not.toContain(secret)
    for (const suffix of ['', '-wal', '-shm'])
      expect(statSync(file() + suffix).mode & 0o777, `dbroker.db${suffix}`).toBe(0o600)
    expect(statSync(path.join(dir, 'store.key')).mode & 0o777).toBe(0o600)
    expect(await store.claimSpareUser('i-1')).toEqual({username: 'spare1', password: SPARE_PASSWORD})
  })

  it('an existing plaintext store is encrypted by the migration, and its files become 0600', async () => {
    const raw = new SQLite(file())
    raw.pragma('journal_mode = WAL')
    const db = new Kysely<any>({dialect: new SqliteDialect({database: raw})})
    const {error} = await new Migrator({
      db,
      provider: {
        getMigrations: async () => ({
          '001_initial': initial,
          '002_multihost': multihost,
          '003_spare_users': spareUsers,
        }),
      },
    }).migrateToLatest()
    expect(error).toBeUndefined()
    await db
      .insertInto('hosts')
      .values({
        id: 'local',
        service_address: 'a',
        bind_address: 'a',
        port_min: 1,
        port_max: 2,
        status: 'alive',
        drained: 0,
        labels: '{}',
        last_heartbeat: 0,
        created_at: 0,
      })
      .execute()
    const i = instance()
    await db
      .insertInto('instances')
      .values({
        id: i.id,
        service_id: 's',
        plan_id: 'p',
        host_id: 'local',
        state: 'ready',
        organization_guid: 'o',
        space_guid: 's',
        parameters: JSON.stringify(i.parameters),
        context: '{}',
        credentials: JSON.stringify(i.credentials),
        spec: JSON.stringify(i.spec),
        name: 'cache',
        request_key: 'k',
        created_at: 1,
        updated_at: 1,
      })
      .execute()
    await db
      .insertInto('bindings')
      .values({
        id: 'b-1',
        instance_id: 'i-1',
        service_id: 's',
        plan_id: 'p',
        state: 'bound',
        parameters: '{}',
        context: '{}',
        credentials: JSON.stringify(binding().credentials),
        request_key: 'k',
        created_at: 2,
        updated_at: 2,
      })
      .execute()
    await db
      .insertInto('spare_users')
      .values({username: 'spare1', instance_id: 'i-1', password: SPARE_PASSWORD, created_at: 3})
      .execute()
    await db.destroy()
    chmodSync(file(), 0o644)
    expect(onDisk(file())).toContain(PASSWORD)

    store = await openStore(`sqlite:${file()}`)
    expect((await store.getInstance('i-1'))?.credentials.password).toBe(PASSWORD)
    expect((await store.getBinding('b-1'))?.credentials.password).toBe(BINDING_PASSWORD)
    expect(await store.spareUsers('i-1')).toEqual([{username: 'spare1', password: SPARE_PASSWORD}])
    const bytes = onDisk(file())
    for (const secret of [PASSWORD, BINDING_PASSWORD, SPARE_PASSWORD, PARAMETER])
      expect(bytes, secret).not.toContain(secret)
    expect(statSync(file()).mode & 0o777).toBe(0o600)
  })

  it('an unbound binding leaves neither its password nor its sealed value in the database or the WAL', async () => {
    store = await openStore(`sqlite:${file()}`)
    await fill(store)
    const sealed = (
      await store.db.selectFrom('bindings').select('credentials').where('id', '=', 'b-1').executeTakeFirstOrThrow()
    ).credentials
    expect(onDisk(file())).toContain(sealed)
    await store.deleteBinding('b-1')
    expect(onDisk(file())).not.toContain(sealed)
    expect(statSync(`${file()}-wal`).size).toBe(0)
  })

  it('a store opened with another key fails at start, naming the key, not later at a request', async () => {
    store = await openStore(`sqlite:${file()}`)
    await fill(store)
    await store.close()
    store = undefined
    const other = generateStoreKey()
    await expect(openStore(`sqlite:${file()}`, {keys: [other]})).rejects.toThrow(
      /sealed with store key [0-9a-f]{8}, but the key given is/,
    )
  })

  it('secrets rotate re-encrypts every secret with a new key and the old key no longer reads the store', async () => {
    store = await openStore(`sqlite:${file()}`)
    await fill(store)
    await store.registries.saveLogin({registry: 'reg.example:5000', username: 'ci', password: 'registry-pass-77'})
    expect(onDisk(file())).not.toContain('registry-pass-77')
    await store.close()
    store = undefined
    const [old] = readStoreKeyFile(path.join(dir, 'store.key'))

    const result = await rotateStoreKey({store: `sqlite:${file()}`, env: {}})
    expect(result.previousKeyIds).toEqual([old.id])
    expect(result.resealed).toEqual([
      {table: 'instances', rows: 1},
      {table: 'bindings', rows: 1},
      {table: 'spare_users', rows: 1},
      {table: 'operations', rows: 0},
      {table: 'deployments', rows: 0},
      {table: 'deployment_containers', rows: 0},
      {table: 'registry_logins', rows: 1},
      {table: 'shared_containers', rows: 0},
      {table: 'catalog_services', rows: 0},
    ])
    const keys = readStoreKeyFile(path.join(dir, 'store.key'))
    expect(keys.map((k) => k.id)).toEqual([result.keyId])
    expect(result.keyId).not.toBe(old.id)
    expect(statSync(path.join(dir, 'store.key')).mode & 0o777).toBe(0o600)

    await expect(openStore(`sqlite:${file()}`, {keys: [old]})).rejects.toThrow(StoreKeyError)
    store = await openStore(`sqlite:${file()}`)
    expect((await store.getBinding('b-1'))?.credentials.password).toBe(BINDING_PASSWORD)
    expect((await store.registries.loginFor('reg.example:5000'))?.password).toBe('registry-pass-77')
    expect(onDisk(file())).not.toContain(`dbx1.${old.id}.`)
  })

  it('a PostgreSQL store without a key is refused with how to make one', async () => {
    await expect(openStore('postgres://nobody@127.0.0.1:1/none', {env: {}})).rejects.toThrow(
      /needs the key its secrets are encrypted with: set DBROKER_STORE_KEY or --store-key-file/,
    )
  })

  it('a key file with group or world bits is made 0600 again', async () => {
    mkdirSync(dir, {recursive: true})
    writeFileSync(path.join(dir, 'store.key'), generateStoreKey().bytes.toString('hex'), {mode: 0o644})
    store = await openStore(`sqlite:${file()}`)
    expect(statSync(path.join(dir, 'store.key')).mode & 0o777).toBe(0o600)
  })
})
