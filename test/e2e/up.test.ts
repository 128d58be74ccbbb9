import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {RUN, startUp, type UpProcess} from '../helpers/cli.js'
import {labelled, removeLabelled} from '../helpers/docker.js'
import {OsbClient} from '../helpers/osb.js'
import {ORG, POSTGRES, REDIS, testId} from '../helpers/system.js'

const redisCli = (uri: string, ...args: string[]) =>
  execFileSync('redis-cli', ['-u', uri, '--no-auth-warning', ...args], {encoding: 'utf8'}).trim()
const psql = (uri: string, sql: string) => execFileSync('psql', [uri, '-XAtqc', sql], {encoding: 'utf8'}).trim()

describe('dbroker up, as a user runs it', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-e2e-'))
  const ids: string[] = []
  let up: UpProcess | undefined

  const start = async () => {
    up = await startUp(['--data-dir', dataDir, '--port-range', '42500-42599'])
    return new OsbClient(up.url, up)
  }

  afterAll(async () => {
    await up?.stop()
    await removeLabelled(ids)
    rmSync(dataDir, {recursive: true, force: true})
  })

  it('serves the catalog, provisions redis and postgresql, and their credentials work in redis-cli and psql across a restart', async () => {
    let osb = await start()
    expect(statSync(path.join(dataDir, 'credentials.json')).mode & 0o777).toBe(0o600)

    const catalog = await osb.request('GET', '/v2/catalog')
    expect(catalog.status).toBe(200)
    expect(catalog.body.services.map((s: {name: string}) => s.name)).toEqual([
      'redis',
      'postgresql',
      'mariadb',
      'log-collector',
    ])

    const redis = testId()
    const pg = testId()
    ids.push(redis, pg)
    expect((await osb.provision(redis, {...REDIS, ...ORG})).status).toBe(201)
    const asyncPg = await osb.provision(pg, {...POSTGRES, ...ORG}, true)
    expect(asyncPg.status).toBe(202)
    expect((await osb.waitFor(pg, asyncPg.body.operation)).body.state).toBe('succeeded')

    const redisBinding = testId('b')
    const pgBinding = testId('b')
    const r = (await osb.bind(redis, redisBinding, REDIS)).body.credentials
    const p = (await osb.bind(pg, pgBinding, POSTGRES)).body.credentials
    expect(r).toMatchObject({
      host: '127.0.0.1',
      port: expect.any(Number),
      username: expect.any(String),
      password: expect.any(String),
    })
    expect(p.database).toEqual(expect.any(String))
    expect(redisCli(r.uri, 'SET', 'greeting', 'hello')).toBe('OK')
    psql(p.uri, 'CREATE TABLE notes (body text); INSERT INTO notes VALUES ($$kept$$)')

    expect(await up!.stop()).toBe(0)
    osb = await start()

    expect((await osb.request('GET', `/v2/service_instances/${redis}`)).status).toBe(200)
    const again = (await osb.request('GET', `/v2/service_instances/${redis}/service_bindings/${redisBinding}`)).body
      .credentials
    expect(again).toEqual(r)
    expect(redisCli(r.uri, 'GET', 'greeting')).toBe('hello')
    expect(psql(p.uri, 'SELECT body FROM notes')).toBe('kept')

    expect((await osb.unbind(redis, redisBinding, REDIS)).status).toBe(200)
    expect((await osb.unbind(pg, pgBinding, POSTGRES)).status).toBe(200)
    expect((await osb.deprovision(redis, REDIS)).status).toBe(200)
    expect((await osb.deprovision(pg, POSTGRES, true)).status).toBe(202)
    expect((await osb.waitFor(pg)).body.state).toBe('succeeded')
    for (const id of [redis, pg]) {
      const left = await labelled(id)
      expect(left.containers).toHaveLength(0)
      expect(left.volumes).toHaveLength(0)
    }
  })

  it('refuses a bad catalog and names the file and the line', () => {
    const file = path.join(dataDir, 'bad.yml')
    writeFileSync(file, 'services:\n  - id: 1\n    name: Redis\n')
    const result = spawnSync(process.execPath, [RUN, 'up', '--catalog', file, '--data-dir', dataDir, '--port', '0'], {
      encoding: 'utf8',
    })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain(file)
    expect(result.stderr).toMatch(/line 2: services\[0\]\.id/)
    expect(result.stdout).toBe('')
  })

  it('without a Docker engine exits 1 and says how to start one', () => {
    const result = spawnSync(process.execPath, [RUN, 'up', '--data-dir', dataDir, '--port', '0'], {
      encoding: 'utf8',
      env: {...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock'},
    })
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/Docker engine at unix:\/\/\/nonexistent\/docker.sock is not reachable/)
    expect(result.stderr).toMatch(/scripts\/docker-engine.sh/)
  })
})
