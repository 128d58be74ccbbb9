import {execFile, execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {execIn} from '../../src/docker/engine.js'
import {docker, labelled} from '../helpers/docker.js'
import {redisAclUsers, redisAdmin} from '../helpers/redis-admin.js'
import {ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

// Another build can stand in, e.g. the image before issue 7's fix, to watch each attack work there.
const IMAGE = process.env.DBROKER_TEST_REDIS_IMAGE ?? 'dbroker/redis:7'
const SERVICE = '7a1d3c52-9e0b-4f6a-8d21-00000000a701'
const PER_BINDING = {service_id: SERVICE, plan_id: '7a1d3c52-9e0b-4f6a-8d21-00000000a711'}
const SHARED = {service_id: SERVICE, plan_id: '7a1d3c52-9e0b-4f6a-8d21-00000000a712'}

/** The reference redis image twice: a user per binding, and the instance's `default` user for every binding. */
const catalogYaml = `services:
  - id: ${SERVICE}
    name: redis-under-attack
    description: the reference redis image, per-binding and shared
    bindable: true
    plans:
      - id: ${PER_BINDING.plan_id}
        name: per-binding
        description: a user per binding
        container: &redis
          image: ${IMAGE}
          ports: [6379]
          volumes: [/data]
          memory: 128m
          restart: unless-stopped
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          binding_credentials: per-binding
          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 30s}
      - id: ${SHARED.plan_id}
        name: shared
        description: every binding gets the instance's user
        container:
          <<: *redis
          binding_credentials: shared
`

/**
 * What redis-cli answers, errors included (it exits 0 on them); a command that does not end (MONITOR where allowed) is cut
 * after 3 s. Asynchronous: a blocked redis must not block this process, where the broker and its heartbeat run too.
 */
async function reply(uri: string, ...args: string[]): Promise<string> {
  try {
    return (
      await promisify(execFile)('redis-cli', ['-u', uri, '--no-auth-warning', ...args], {
        encoding: 'utf8',
        timeout: 3000,
      })
    ).stdout.trim()
  } catch (error) {
    const {stdout, stderr} = error as {stdout?: string; stderr?: string}
    return `${stdout ?? ''}${stderr ?? ''}`.trim()
  }
}

// DEBUG and MODULE are also switched off in redis.conf, and redis says so before it checks the ACL.
const REFUSED = /^NOPERM|^ERR (DEBUG|MODULE) command not allowed/
const NOT_LOGGED_IN = /NOAUTH|WRONGPASS/
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** Each command's answer, keyed by the command, so a failure shows every command that got through. */
async function answers(uri: string, commands: string[][]): Promise<Record<string, string>> {
  const answered: Record<string, string> = {}
  for (const c of commands) answered[c.join(' ')] = await reply(uri, ...c)
  return answered
}
const allRefused = (commands: string[][]) =>
  Object.fromEntries(commands.map((c) => [c.join(' '), expect.stringMatching(REFUSED)]))

describe('redis: a binding holds data commands only, and nothing it does outlives its unbind', () => {
  let t: TestSystem
  let dir: string
  const cache = testId()
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    const catalogFile = path.join(dir, 'catalog.yml')
    writeFileSync(catalogFile, catalogYaml)
    t = await startTestSystem({catalogFile, portRange: [43300, 43329]})
    expect((await t.osb.provision(cache, {...PER_BINDING, ...ORG})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  async function provision(plan = PER_BINDING): Promise<string> {
    const id = testId()
    expect((await t.osb.provision(id, {...plan, ...ORG})).status).toBe(201)
    return id
  }
  async function bind(instanceId: string, plan = PER_BINDING) {
    const bindingId = testId('b')
    const bound = await t.osb.bind(instanceId, bindingId, plan)
    expect(bound.status).toBe(201)
    const {username, password, uri, port} = bound.body.credentials as {
      username: string
      password: string
      uri: string
      port: number
    }
    return {
      bindingId,
      username,
      password,
      uri,
      port,
      unbind: async () => (await t.osb.unbind(instanceId, bindingId, plan)).status,
    }
  }

  it('ACL SETUSER backdoor and ACL SAVE are refused, and no backdoor exists after the unbind', async () => {
    const tenant = await bind(cache)
    expect(
      await reply(tenant.uri, 'ACL', 'SETUSER', 'backdoor', 'on', '>backdoor-password', '~*', '&*', '+@all'),
    ).toMatch(REFUSED)
    expect(await reply(tenant.uri, 'ACL', 'SAVE')).toMatch(REFUSED)
    expect(await reply(tenant.uri, 'ACL', 'LOAD')).toMatch(REFUSED)
    expect(await tenant.unbind()).toBe(200)
    expect(await redisAclUsers(cache)).not.toContain('backdoor')
    expect(await reply(`redis://backdoor:backdoor-password@127.0.0.1:${tenant.port}`, 'PING')).toMatch(NOT_LOGGED_IN)
  })

  it("a binding can change neither default's password nor another binding's user, and unbind still works", async () => {
    const victim = await provision()
    const [tenant, neighbour] = [await bind(victim), await bind(victim)]
    expect(
      await answers(tenant.uri, [
        ['ACL', 'SETUSER', 'default', 'resetpass', '>hijacked'],
        ['ACL', 'SETUSER', 'dbroker-admin', 'resetpass', '>hijacked'],
        ['ACL', 'SETUSER', neighbour.username, '>a-second-password'],
        ['ACL', 'DELUSER', neighbour.username],
      ]),
    ).toEqual(
      allRefused([
        ['ACL', 'SETUSER', 'default', 'resetpass', '>hijacked'],
        ['ACL', 'SETUSER', 'dbroker-admin', 'resetpass', '>hijacked'],
        ['ACL', 'SETUSER', neighbour.username, '>a-second-password'],
        ['ACL', 'DELUSER', neighbour.username],
      ]),
    )
    expect(await reply(neighbour.uri, 'PING')).toBe('PONG')
    expect(await tenant.unbind()).toBe(200)
    expect(await reply(tenant.uri, 'PING')).toMatch(NOT_LOGGED_IN)
    expect(await neighbour.unbind()).toBe(200)
  })

  it('CONFIG SET and CONFIG REWRITE are refused, and the server cannot rewrite its own config', async () => {
    const tenant = await bind(cache)
    const attempts = [
      ['CONFIG', 'SET', 'dir', '/etc/redis'],
      ['CONFIG', 'SET', 'appendonly', 'no'],
      ['CONFIG', 'REWRITE'],
      ['CONFIG', 'GET', '*'],
    ]
    expect(await answers(tenant.uri, attempts)).toEqual(allRefused(attempts))
    // Not even the admin can persist a config change: /etc/redis belongs to root, redis runs as redis.
    expect(await redisAdmin(cache, 'CONFIG', 'REWRITE')).toMatch(/Permission denied|Read-only file system/)
    expect(await tenant.unbind()).toBe(200)
  })

  it('replication, migration, shutdown, monitoring, other clients, debugging, modules and persisted code are refused', async () => {
    const victim = await provision()
    const tenant = await bind(victim)
    const attempts = [
      ['REPLICAOF', '127.0.0.1', '1'],
      ['SLAVEOF', '127.0.0.1', '1'],
      ['MIGRATE', '127.0.0.1', '1', 'k', '0', '1000'],
      ['MONITOR'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'KILL', 'TYPE', 'normal'],
      ['CLIENT', 'PAUSE', '1000'],
      ['DEBUG', 'SLEEP', '0'],
      ['MODULE', 'LOAD', '/tmp/evil.so'],
      ['FUNCTION', 'LOAD', "#!lua name=evil\nredis.register_function('f', function() return 1 end)"],
      ['SCRIPT', 'DEBUG', 'SYNC'],
      ['RESTORE', 'k', '0', 'payload'],
      ['BGSAVE'],
      ['FAILOVER'],
      ['ACL', 'WHOAMI'],
      ['SHUTDOWN', 'NOSAVE'],
    ]
    expect(await answers(tenant.uri, attempts)).toEqual(allRefused(attempts))
    expect(await reply(tenant.uri, 'INFO', 'replication')).toMatch(/role:master/)
    expect(await tenant.unbind()).toBe(200)
  })

  it('data commands still work: strings, hashes, expiry, keys, scripts, pub/sub, INFO', async () => {
    const [a, b] = [await bind(cache), await bind(cache)]
    expect(await reply(a.uri, 'SET', 'greeting', 'hello')).toBe('OK')
    expect(await reply(b.uri, 'GET', 'greeting')).toBe('hello')
    expect(await reply(a.uri, 'HSET', 'user:1', 'name', 'ada', 'lang', 'en')).toBe('2')
    expect(await reply(b.uri, 'HGET', 'user:1', 'name')).toBe('ada')
    expect(await reply(a.uri, 'EXPIRE', 'greeting', '100')).toBe('1')
    expect(Number(await reply(b.uri, 'TTL', 'greeting'))).toBeGreaterThan(0)
    expect(await reply(b.uri, 'KEYS', 'user:*')).toBe('user:1')
    expect(await reply(a.uri, 'INFO', 'server')).toMatch(/redis_version:7\./)
    expect(await reply(a.uri, 'EVAL', "return redis.call('incrby', KEYS[1], ARGV[1])", '1', 'counter', '5')).toBe('5')
    const sha = await reply(a.uri, 'SCRIPT', 'LOAD', "return redis.call('get', KEYS[1])")
    expect(await reply(b.uri, 'EVALSHA', sha, '1', 'greeting')).toBe('hello')
    // A script runs with its caller's rules: it cannot do what the binding may not.
    expect(await reply(a.uri, 'EVAL', "return redis.call('restore', KEYS[1], 0, 'payload')", '1', 'k')).toMatch(
      /user executing the script can't run this command/,
    )

    const subscriber = spawn('redis-cli', ['-u', b.uri, '--no-auth-warning', 'SUBSCRIBE', 'news'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let heard = ''
    subscriber.stdout.on('data', (chunk: Buffer) => (heard += chunk.toString()))
    try {
      await vi.waitFor(() => expect(heard).toMatch(/subscribe\s+news\s+1/), {timeout: 10_000, interval: 50})
      expect(await reply(a.uri, 'PUBLISH', 'news', 'extra-extra')).toBe('1')
      await vi.waitFor(() => expect(heard).toContain('extra-extra'), {timeout: 10_000, interval: 50})
    } finally {
      subscriber.kill()
    }
    expect([await a.unbind(), await b.unbind()]).toEqual([200, 200])
  })

  it('after binds and unbinds redis knows exactly default, the admin, the bound users and the spare users', async () => {
    const [kept, gone] = [await bind(cache), await bind(cache)]
    expect(await gone.unbind()).toBe(200)
    const store = t.system.store
    await vi.waitFor(async () => expect(await store.spareUsers(cache)).toHaveLength(2), {
      timeout: 30_000,
      interval: 100,
    })
    const expected = [
      'default',
      'dbroker-admin',
      ...(await store.listBindings(cache)).map((b) => b.credentials.username),
      ...(await store.spareUsers(cache)).map((u) => u.username),
    ].sort()
    expect(expected).toContain(kept.username)
    expect(expected).not.toContain(gone.username)
    expect(await redisAclUsers(cache)).toEqual(expected)
    expect(await kept.unbind()).toBe(200)
  })

  it("a binding's endless script cannot hold up its unbind", async () => {
    const [tenant, neighbour] = [await bind(cache), await bind(cache)]
    const script = spawn('redis-cli', ['-u', tenant.uri, '--no-auth-warning', 'EVAL', 'while true do end', '0'], {
      stdio: 'ignore',
    })
    try {
      // Past redis' busy threshold (5 s) every other client hears BUSY.
      await vi.waitFor(async () => expect(await reply(neighbour.uri, 'PING')).toMatch(/^BUSY/), {
        timeout: 20_000,
        interval: 100,
      })
      expect(await tenant.unbind()).toBe(200)
      expect(await reply(tenant.uri, 'PING')).toMatch(NOT_LOGGED_IN)
      expect(await reply(neighbour.uri, 'PING')).toBe('PONG')
    } finally {
      script.kill()
      await reply(neighbour.uri, 'SCRIPT', 'KILL')
    }
    expect(await neighbour.unbind()).toBe(200)
  }, 40_000)

  it("a binding's script that wrote and never ends (UNKILLABLE) holds up its unbind only until its container restarts, without the user", async () => {
    const victim = await provision()
    const [tenant, neighbour] = [await bind(victim), await bind(victim)]
    expect(await reply(neighbour.uri, 'SET', 'before', 'kept')).toBe('OK')
    const script = spawn(
      'redis-cli',
      [
        '-u',
        tenant.uri,
        '--no-auth-warning',
        'EVAL',
        "redis.call('set', KEYS[1], 'half') while true do end",
        '1',
        'during',
      ],
      {stdio: 'ignore'},
    )
    try {
      // Past redis' busy threshold (5 s): a script that wrote cannot be killed.
      await vi.waitFor(async () => expect(await reply(neighbour.uri, 'SCRIPT', 'KILL')).toMatch(/^UNKILLABLE/), {
        timeout: 20_000,
        interval: 200,
      })
      expect(await tenant.unbind()).toBe(200)
      // The unbind answers once the restarted container lists its users again, without this one.
      expect(await redisAclUsers(victim)).not.toContain(tenant.username)
      await vi.waitFor(async () => expect(await reply(neighbour.uri, 'PING')).toBe('PONG'), {
        timeout: 30_000,
        interval: 200,
      })
      expect(await reply(tenant.uri, 'PING')).toMatch(NOT_LOGGED_IN)
      // What was written before stays; the script's half-done write never happened.
      expect(await reply(neighbour.uri, 'GET', 'before')).toBe('kept')
      expect(await reply(neighbour.uri, 'EXISTS', 'during')).toBe('0')
    } finally {
      script.kill()
    }
    expect(await neighbour.unbind()).toBe(200)
  }, 90_000)

  it('an exec that does not end (a hook a tenant made hang) fails at its deadline with a reason', async () => {
    const container = (await labelled(cache)).containers[0].Id
    await expect(execIn(docker, container, ['sleep', '30'], {}, 500)).rejects.toThrow(/sleep did not finish within 1 s/)
    expect(await execIn(docker, container, ['true'], {}, 10_000)).toMatchObject({exitCode: 0, output: ''})
  })

  it('a user a crash left between the bind hook and its row is dropped when the broker recovers', async () => {
    const victim = await provision()
    const kept = await bind(victim)
    const container = (await labelled(victim)).containers[0].Id
    // What a crash right after the hook leaves: a user in redis, no binding or spare in the store.
    execFileSync(
      'docker',
      ['exec', '-e', 'BIND_USERNAME=bstray0crash1', '-e', 'BIND_PASSWORD', container, '/dbroker/bind'],
      {stdio: 'pipe', env: {...process.env, BIND_PASSWORD: 'stray-password-1'}},
    )
    const stray = `redis://bstray0crash1:stray-password-1@127.0.0.1:${kept.port}`
    expect(await reply(stray, 'PING')).toBe('PONG')
    await t.system.broker.provisioner.resume()
    await vi.waitFor(async () => expect(await redisAclUsers(victim)).not.toContain('bstray0crash1'), {
      timeout: 30_000,
      interval: 200,
    })
    expect(await reply(stray, 'PING')).toMatch(NOT_LOGGED_IN)
    const store = t.system.store
    expect(await redisAclUsers(victim)).toEqual(
      [
        'default',
        'dbroker-admin',
        ...(await store.listBindings(victim)).map((b) => b.credentials.username),
        ...(await store.spareUsers(victim)).map((u) => u.username),
      ].sort(),
    )
    expect(await reply(kept.uri, 'PING')).toBe('PONG')
    expect(await kept.unbind()).toBe(200)
  }, 60_000)

  it("a binding sees no other client's commands or connections and stops no one else", async () => {
    const victim = cache
    const tenant = await bind(victim)
    const attempts = [
      ['SLOWLOG', 'GET'],
      ['LATENCY', 'LATEST'],
      ['CLIENT', 'UNBLOCK', '1'],
      ['CLIENT', 'NO-EVICT', 'on'],
      ['DEBUG', 'OBJECT', 'k'],
      ['SAVE'],
      ['BGREWRITEAOF'],
      ['SWAPDB', '0', '1'],
      ['LASTSAVE'],
    ]
    expect(await answers(tenant.uri, attempts)).toEqual(allRefused(attempts))
    expect(await tenant.unbind()).toBe(200)
  })

  it('at the next start a user written into users.acl on the volume is gone, and an old +@all binding user is tightened', async () => {
    const tenant = await bind(cache)
    const container = docker.getContainer((await labelled(cache)).containers[0].Id)
    const file = execFileSync('docker', ['exec', container.id, 'cat', '/data/users.acl'], {encoding: 'utf8'})
    // As the image before the fix left a volume: a tenant's backdoor, and the binding +@all with a second password it gave itself.
    const old = file
      .split('\n')
      .filter((line) => line && !line.startsWith(`user ${tenant.username} `))
      .concat([
        `user ${tenant.username} on #${sha256(tenant.password)} #${sha256('a-second-password')} ~* &* +@all`,
        `user injected on #${sha256('injected-password')} ~* &* +@all`,
      ])
    execFileSync('docker', ['exec', '-i', container.id, 'sh', '-c', 'cat > /data/users.acl'], {
      input: old.join('\n') + '\n',
    })
    await container.restart()
    await vi.waitFor(async () => expect(await reply(tenant.uri, 'PING')).toBe('PONG'), {timeout: 30_000, interval: 200})

    expect(await reply(`redis://injected:injected-password@127.0.0.1:${tenant.port}`, 'PING')).toMatch(NOT_LOGGED_IN)
    expect(await reply(`redis://${tenant.username}:a-second-password@127.0.0.1:${tenant.port}`, 'PING')).toMatch(
      NOT_LOGGED_IN,
    )
    expect(await redisAclUsers(cache)).not.toContain('injected')
    expect(await reply(tenant.uri, 'SET', 'after-restart', 'yes')).toBe('OK')
    const attempts = [
      ['ACL', 'SETUSER', 'injected', 'on', '>x', '+@all'],
      ['CONFIG', 'SET', 'dir', '/tmp'],
    ]
    expect(await answers(tenant.uri, attempts)).toEqual(allRefused(attempts))
    expect(await tenant.unbind()).toBe(200)
  }, 60_000)

  it('on a shared plan the instance user every binding gets cannot escalate either', async () => {
    const instance = await provision(SHARED)
    const tenant = await bind(instance, SHARED)
    expect(tenant.username).toBe('default')
    expect(await reply(tenant.uri, 'SET', 'k', 'v')).toBe('OK')
    const attempts = [
      ['ACL', 'SETUSER', 'backdoor', 'on', '>backdoor-password', '+@all'],
      ['ACL', 'SAVE'],
      ['CONFIG', 'SET', 'dir', '/tmp'],
      ['CONFIG', 'REWRITE'],
      ['REPLICAOF', '127.0.0.1', '1'],
      ['SHUTDOWN', 'NOSAVE'],
    ]
    expect(await answers(tenant.uri, attempts)).toEqual(allRefused(attempts))
    expect(await tenant.unbind()).toBe(200)
  })
})
