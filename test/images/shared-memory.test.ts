import {execFile, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {promisify} from 'node:util'

import {afterAll, describe, expect, it} from 'vitest'

import {testId} from '../helpers/system.js'
import {until} from '../helpers/until.js'
import {startContainer, type TestContainer} from './shared-container.js'

// One tenant of a shared container with a memory limit tries to take every other tenant down with a single command
// that allocates far past the server's own limits at once, so that the kernel's OOM killer ends the server (redis) or
// a backend, after which postgres restarts and ends every session. The images derive limits from the container's
// memory limit that turn each such command into an error for that tenant alone (images/README.md).

const state = (name: string) =>
  execFileSync('docker', ['inspect', '-f', '{{.State.StartedAt}} {{.State.OOMKilled}}', name], {
    encoding: 'utf8',
  }).trim()

describe('one tenant of a shared container cannot take the others down through memory', () => {
  const containers: TestContainer[] = []
  afterAll(() => containers.forEach((c) => c.remove()))

  it('redis (128 MB): SETBIT at the last offset leaves the server, and B, running', async () => {
    const c = await startContainer({
      name: testId('mem-redis'),
      image: process.env.DBROKER_TEST_REDIS_IMAGE ?? 'dbroker/redis:7',
      port: 47403,
      containerPort: 6379,
      env: {},
      secretEnv: {REDIS_PASSWORD: randomBytes(16).toString('hex')},
      ready: (container) => container.exec('/dbroker/healthcheck') === '',
      runArgs: ['--memory', '128m', '--memory-swap', '128m'],
    })
    containers.push(c)
    const bind = (instance: string) => {
      c.ok(['/dbroker/provision'], {instance_id: instance})
      return JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: `${instance}-b`})) as {
        username: string
        password: string
        key_prefix: string
      }
    }
    const a = bind(testId('a'))
    const b = bind(testId('b'))
    const as = async (who: typeof a, ...args: string[]) => {
      try {
        const run = await promisify(execFile)(
          'redis-cli',
          ['-h', '127.0.0.1', '-p', '47403', '--user', who.username, '--no-auth-warning', ...args],
          {encoding: 'utf8', timeout: 10_000, env: {...process.env, REDISCLI_AUTH: who.password}},
        )
        return `${run.stdout}${run.stderr}`.trim()
      } catch (error) {
        return String((error as {stderr?: string}).stderr ?? error)
      }
    }
    expect(await as(b, 'SET', `${b.key_prefix}k`, 'b-value')).toBe('OK')
    const before = state(c.name)
    const p = a.key_prefix
    // 512 MB at once, or just past proto-max-bulk-len (a sixteenth of the limit, 8 MB here): refused.
    expect(await as(a, 'SETBIT', `${p}x`, '4294967295', '1')).toMatch(/bit offset is not an integer or out of range/)
    expect(await as(a, 'SETRANGE', `${p}x`, '536870000', 'x')).toMatch(/string exceeds maximum allowed size/)
    expect(await as(a, 'SETRANGE', `${p}x`, String(8 << 20), 'x')).toMatch(/string exceeds maximum allowed size/)
    // SORT ... GET # GET # ... STORE would make a list of its length times the GETs (2 GB here); redis 7 refuses
    // GET to a user confined to a key pattern, and every tenant is (and tenants may not SORT at all now).
    const list = Array.from({length: 1000}, (_, i) => String(i).padStart(100, '0'))
    const gets = Array.from({length: 20_000}, () => ['GET', '#']).flat()
    expect(await as(a, 'RPUSH', `${p}list`, ...list)).toBe('1000')
    expect(await as(a, 'SORT', `${p}list`, 'BY', 'nosort', ...gets, 'STORE', `${p}big`)).toMatch(
      /GET option of SORT denied|NOPERM .*'sort' command/,
    )
    expect(state(c.name)).toBe(before)
    expect(await as(b, 'GET', `${b.key_prefix}k`)).toBe('b-value')
  })

  it("postgresql (256 MB): a 1 GB value in A's query leaves B's session running", async () => {
    const c = await startContainer({
      name: testId('mem-pg'),
      image: process.env.DBROKER_TEST_POSTGRES_IMAGE ?? 'dbroker/postgresql:15',
      port: 47404,
      containerPort: 5432,
      env: {POSTGRES_USER: 'app', POSTGRES_DB: 'appdb'},
      secretEnv: {POSTGRES_PASSWORD: randomBytes(16).toString('hex')},
      ready: (container) => {
        container.exec('pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432')
        return true
      },
      runArgs: ['--memory', '256m', '--memory-swap', '256m'],
    })
    containers.push(c)
    const bind = (instance: string) => {
      c.ok(['/dbroker/provision'], {instance_id: instance})
      return JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: `${instance}-b`})) as {
        username: string
        password: string
        database: string
      }
    }
    const a = bind(testId('a'))
    const b = bind(testId('b'))
    const psql = (who: typeof a, sql: string) =>
      spawn('psql', ['-X', '-h', '127.0.0.1', '-p', '47404', '-U', who.username, '-d', who.database, '-c', sql], {
        env: {...process.env, PGPASSWORD: who.password},
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    const session = psql(b, "SELECT 'b-session', pg_sleep(8)")
    const ended = new Promise<number | null>((resolve) => session.on('exit', resolve))
    try {
      await until('B to run its query', () =>
        c.exec(
          'setpriv',
          '--reuid=postgres',
          '--regid=postgres',
          '--init-groups',
          'psql',
          '-XAtqc',
          `SELECT 1 FROM pg_stat_activity WHERE usename = '${b.username}' AND query LIKE '%b-session%'`,
        ),
      )
      const before = state(c.name)
      const attack = psql(a, "SELECT length(repeat('x', 1000000000))")
      let refused = ''
      attack.stderr?.on('data', (chunk: Buffer) => (refused += chunk.toString()))
      expect(await new Promise((resolve) => attack.on('exit', resolve))).toBe(1)
      expect(refused).toMatch(/ERROR: {2}out of memory/)
      expect(await ended).toBe(0)
      expect(state(c.name)).toBe(before)
    } finally {
      session.kill()
    }
  })
})
