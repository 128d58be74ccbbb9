import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {createLogger} from '../../src/core/log.js'
import {loadAgentConfig, type RunningAgent, startAgentProcess} from '../../src/system/agent.js'
import {type BrokerProcess, loadBrokerConfig, startBrokerProcess} from '../../src/system/broker.js'
import {RUN} from '../helpers/cli.js'
import {removeInstallationNetwork, removeLabelled} from '../helpers/docker.js'
import type {CliResult} from '../helpers/operator.js'
import {OsbClient} from '../helpers/osb.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'
import {CACHE, writeCacheService} from '../helpers/runtime-catalog.js'
import {expectNothingLeft, ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

interface BrokerTarget {
  url: string
  credentials: {username: string; password: string}
  adminCredentials: {username: string; password: string}
}

/** The built CLI as an operator runs it against `target`, in a temp config dir, with no terminal. */
function cli(target: BrokerTarget, configDir: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [RUN, ...args],
      {
        env: {
          ...process.env,
          XDG_CONFIG_HOME: configDir,
          NO_COLOR: '1',
          DBROKER_URL: target.url,
          DBROKER_USERNAME: target.credentials.username,
          DBROKER_PASSWORD: target.credentials.password,
          DBROKER_ADMIN_USERNAME: target.adminCredentials.username,
          DBROKER_ADMIN_PASSWORD: target.adminCredentials.password,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

/** redis-cli with a binding's credentials; the password in its environment, not its arguments. */
function redisCli(credentials: {host: string; port: number; username: string; password: string}, ...args: string[]) {
  return new Promise<string>((resolve, reject) =>
    execFile(
      'redis-cli',
      ['-h', credentials.host, '-p', String(credentials.port), '--user', credentials.username, ...args],
      {env: {...process.env, REDISCLI_AUTH: credentials.password}, timeout: 10_000},
      (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
    ),
  )
}

const catalogNames = async (osb: OsbClient) => {
  const {body, headers} = await osb.request<{services: Array<{name: string; plans: Array<{name: string}>}>}>(
    'GET',
    '/v2/catalog',
  )
  return {names: body.services.map((s) => s.name), etag: headers.get('etag'), services: body.services}
}

describe('a service added at runtime with `dbroker services add`, provisioned and bound without a restart (dbroker up)', () => {
  let dir: string
  let t: TestSystem
  const id = testId()
  const bindingId = testId('b')
  const cache = {service_id: CACHE.service_id, plan_id: CACHE.plan_id}
  const run = (args: string[]) => cli(t.system, path.join(dir, 'config'), args)

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-runtime-catalog-'))
    mkdirSync(path.join(dir, 'data'))
    t = await startTestSystem({dataDir: path.join(dir, 'data')})
  })
  afterAll(async () => {
    await t?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('services add FILE: the catalog has it at once; provision, bind, and redis-cli works with the credentials', async () => {
    const before = await catalogNames(t.osb)
    expect(before.names).not.toContain('cache')
    const added = await run(['services', 'add', writeCacheService(dir, 'cache.yml'), '--json'])
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout).result.services).toEqual([{name: 'cache', version: 1, changed: true}])
    const after = await catalogNames(t.osb)
    expect(after.names).toContain('cache')
    expect(after.etag).not.toBe(before.etag)

    expect((await t.osb.provision(id, {...cache, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(id, bindingId, cache)
    expect(bound.status).toBe(201)
    const credentials = bound.body.credentials
    expect(await redisCli(credentials, 'SET', 'k', 'runtime')).toBe('OK')
    expect(await redisCli(credentials, 'GET', 'k')).toBe('runtime')

    const listed = await run(['services', 'list'])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(/^cache\s+1\s+small\s/m)
  })

  it('removing the service, or updating it without its plan, while the instance exists is refused naming the instance', async () => {
    const removed = await run(['services', 'remove', 'cache', '--yes'])
    expect(removed.code).toBe(1)
    expect(removed.stderr).toContain(`cache cannot be removed: plan small of cache has instances: ${id}`)
    const asked = await run(['services', 'remove', 'cache'])
    expect(asked.code).toBe(2)
    expect(asked.stderr).toMatch(/confirmation needed.*\n.*--yes/)
    // The same service under another plan id drops `small`: its instance would lose its plan.
    const renamed = writeCacheService(dir, 'renamed.yml')
    writeFileSync(renamed, readFileSync(renamed, 'utf8').replace(CACHE.plan_id, CACHE.second_plan_id))
    const dropped = await run(['services', 'update', renamed, '--json'])
    expect(dropped.code).toBe(1)
    expect(JSON.parse(dropped.stdout).error.message).toContain(
      `cannot drop a plan: plan small of cache has instances: ${id}`,
    )
    expect((await catalogNames(t.osb)).names).toContain('cache')
  })

  it('a bad file names the field and the line, here or at the broker, and stores nothing', async () => {
    const generation = JSON.parse((await run(['services', 'list', '--json'])).stdout).result.generation
    const bad = writeCacheService(dir, 'bad.yml')
    const text = readFileSync(bad, 'utf8')
    writeFileSync(bad, text.replace('id: 6e2d1b4f', 'id: xx2d1b4f').replace('name: cache', 'name: other'))
    const local = await run(['services', 'add', bad])
    expect(local.code).toBe(1)
    expect(local.stderr).toMatch(
      /invalid catalog .*bad\.yml:\n\s+line 8: services\[0\]\.plans\[0\]\.id: must be a UUID/,
    )
    // Valid alone, but its plan id is the default redis plan's: only the broker knows, and the line is still the file's.
    const clash = writeCacheService(dir, 'clash.yml')
    writeFileSync(
      clash,
      text
        .replace(CACHE.service_id, 'a1b2c3d4-0000-4000-8000-000000000001')
        .replace('name: cache', 'name: other')
        .replace(CACHE.plan_id, '9224c565-e657-4b4e-8048-c400aea5257c'),
    )
    const remote = await run(['services', 'add', clash])
    expect(remote.code).toBe(1)
    expect(remote.stderr).toMatch(
      /invalid catalog .*clash\.yml:\n\s+line 8: services\[0\]\.plans\[0\]\.id: id 9224c565-e657-4b4e-8048-c400aea5257c is already used at service "redis" plans\[0\]\.id/,
    )
    const list = JSON.parse((await run(['services', 'list', '--json'])).stdout).result
    expect(list.generation).toBe(generation)
    expect(list.services.map((s: {name: string}) => s.name)).not.toContain('other')
  })

  it('a restart keeps the runtime-added service, and its instance still binds', async () => {
    await t.system.close()
    t = await startTestSystem({dataDir: path.join(dir, 'data')})
    expect((await catalogNames(t.osb)).names).toContain('cache')
    const again = testId('b')
    const bound = await t.osb.bind(id, again, cache)
    expect(bound.status).toBe(201)
    expect(await redisCli(bound.body.credentials, 'GET', 'k')).toBe('runtime')
    for (const b of [bindingId, again]) expect((await t.osb.unbind(id, b, cache)).status).toBe(200)
    expect((await t.osb.deprovision(id, cache)).status).toBe(200)
    await expectNothingLeft(t, id)
    const removed = await run(['services', 'remove', 'cache', '--yes', '--json'])
    expect(removed.code, removed.stdout).toBe(0)
    expect((await catalogNames(t.osb)).names).not.toContain('cache')
  })
})

describe('two brokers on one PostgreSQL store: a catalog change on one is served by the other at once', () => {
  const PORT = 44461
  let dir: string
  let postgres: TestPostgres | undefined
  const brokers: BrokerProcess[] = []
  const OSB = {username: 'broker', password: 'osb-password-0123'}
  const ADMIN = {username: 'ops', password: 'admin-password-0123'}
  const adminAuth = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`
  const target = (b: BrokerProcess): BrokerTarget => ({url: b.url, credentials: OSB, adminCredentials: ADMIN})
  const osb = (b: BrokerProcess) => new OsbClient(b.url, OSB)
  let agent: RunningAgent | undefined
  const id = testId()
  const bindingId = testId('b')
  const cache = {service_id: CACHE.service_id, plan_id: CACHE.plan_id}

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/dbcatalog-')
    chmodSync(dir, 0o755) // the postgres user walks through it
    postgres = startPostgres(path.join(dir, 'pg'), PORT)
    postgres.createDatabase('catalog')
    const keyFile = path.join(dir, 'store.key')
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, {mode: 0o600})
    for (const id of ['broker-a', 'broker-b'])
      brokers.push(
        await startBrokerProcess(
          loadBrokerConfig(undefined, {
            id,
            osb: OSB,
            admin: ADMIN,
            store: postgres.url('catalog'),
            store_key_file: keyFile,
            listen: '127.0.0.1:0',
          }),
          createLogger('silent'),
        ),
      )
    // One host, this machine's engine, whose agent heartbeats to broker B.
    const enrolled = await fetch(`${brokers[0].url}/admin/v1/hosts/catalog-h1/enroll`, {
      method: 'POST',
      headers: {authorization: adminAuth},
    })
    const {token} = (await enrolled.json()) as {token: string}
    mkdirSync(path.join(dir, 'disks'))
    agent = await startAgentProcess(
      loadAgentConfig(undefined, {
        id: 'catalog-h1',
        token,
        brokers: [brokers[1].url],
        service_address: '127.0.0.1',
        port_range: '44470-44479',
        listen: '127.0.0.1:0',
        keepalive: 1000,
        disks_dir: path.join(dir, 'disks'),
      }),
      createLogger('silent'),
    )
    await vi.waitFor(async () => expect((await brokers[1].store.getHost('catalog-h1'))?.status).toBe('alive'), {
      timeout: 20_000,
    })
  })
  afterAll(async () => {
    const installation = brokers[0] && (await brokers[0].store.installationId())
    await agent?.close()
    if (installation) {
      await removeLabelled([id], installation)
      await removeInstallationNetwork(installation)
    }
    for (const b of brokers) await b.close()
    postgres?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('add on A: B serves it with a new ETag, provisions it and binds (redis-cli works), A refuses to remove it; update on B: A serves that; a stale version is a 409; remove on A: gone from B', async () => {
    const [a, b] = brokers
    const config = path.join(dir, 'config')
    const before = await catalogNames(osb(b))
    const added = await cli(target(a), config, ['services', 'add', writeCacheService(dir, 'cache.yml')])
    expect(added.code, added.stderr).toBe(0)
    await vi.waitFor(async () => expect((await catalogNames(osb(b))).names).toContain('cache'), {timeout: 10_000})
    expect((await catalogNames(osb(b))).etag).not.toBe(before.etag)

    // B places an instance of it on the host, and the credentials work; A won't remove the service under it.
    expect((await osb(b).provision(id, {...cache, ...ORG})).status).toBe(201)
    const bound = await osb(b).bind(id, bindingId, cache)
    expect(bound.status).toBe(201)
    expect(await redisCli(bound.body.credentials, 'SET', 'k', 'pg')).toBe('OK')
    expect(await redisCli(bound.body.credentials, 'GET', 'k')).toBe('pg')
    const refused = await cli(target(a), config, ['services', 'remove', 'cache', '--yes'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`plan small of cache has instances: ${id}`)
    expect((await osb(b).unbind(id, bindingId, cache)).status).toBe(200)
    expect((await osb(b).deprovision(id, cache)).status).toBe(200)

    const read = JSON.parse((await cli(target(a), config, ['services', 'list', '--json'])).stdout).result
    const updated = await cli(target(b), config, ['services', 'update', writeCacheService(dir, 'two.yml', {plans: 2})])
    expect(updated.code, updated.stderr).toBe(0)
    expect(updated.stdout).toContain('cache: updated (version 2)')
    await vi.waitFor(
      async () =>
        expect((await catalogNames(osb(a))).services.find((s) => s.name === 'cache')?.plans.map((p) => p.name)).toEqual(
          ['small', 'large'],
        ),
      {timeout: 10_000},
    )
    // A client that read version 1 before B's update writes nothing.
    const cacheRead = read.services.find((s: {name: string}) => s.name === 'cache')
    const stale = await fetch(`${a.url}/admin/v1/catalog/services/cache`, {
      method: 'PUT',
      headers: {
        authorization: adminAuth,
        'content-type': 'application/json',
      },
      body: JSON.stringify({version: cacheRead.version, service: cacheRead.definition}),
    })
    expect(stale.status).toBe(409)

    const removed = await cli(target(a), config, ['services', 'remove', 'cache', '--yes'])
    expect(removed.code, removed.stderr).toBe(0)
    await vi.waitFor(async () => expect((await catalogNames(osb(b))).names).not.toContain('cache'), {timeout: 10_000})
    expect((await catalogNames(osb(b))).etag).toBe(before.etag)
  })
})
