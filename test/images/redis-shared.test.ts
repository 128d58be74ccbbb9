import {execFile} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {testId} from '../helpers/system.js'
import {until} from '../helpers/until.js'
import {
  badDocuments,
  expectEachRefused,
  expectNoPasswordOnArgv,
  startContainer,
  type TestContainer,
} from './shared-container.js'

// Another build can stand in (e.g. one whose bind --json ignores the prefix) to watch each attack work there.
const IMAGE = process.env.DBROKER_TEST_REDIS_IMAGE ?? 'dbroker/redis:7'
const PORT = 47401

interface RedisBinding {
  username: string
  password: string
  port: number
  key_prefix: string
}

const hex12 = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 12)

/** What redis-cli answers as a binding, errors included (it exits 0 on them, a failed AUTH on stderr); the password in its env. */
async function as(b: RedisBinding, ...args: string[]): Promise<string> {
  try {
    const {stdout, stderr} = await promisify(execFile)(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(PORT), '--user', b.username, '--no-auth-warning', ...args],
      {encoding: 'utf8', timeout: 3000, env: {...process.env, REDISCLI_AUTH: b.password}},
    )
    return `${stdout}${stderr}`.trim()
  } catch (error) {
    const {stdout, stderr} = error as {stdout?: string; stderr?: string}
    return `${stdout ?? ''}${stderr ?? ''}`.trim()
  }
}

// Redis refuses by ACL (NOPERM), or SORT's BY/GET for a user without every key.
const REFUSED = /^NOPERM|denied due to insufficient ACL permissions/

/**
 * The keyless commands (and subcommands) a tenant may run, reviewed one by one: none lists, counts or changes
 * another tenant's keys, reaches another database or client, or tells about the server. The channel commands check
 * their channel arguments against the tenant's pattern. A new redis that adds a keyless command fails this list.
 */
const REVIEWED_KEYLESS = [
  'asking', // cluster redirection flag: nothing in standalone
  'auth',
  'client|getname',
  'client|id',
  'client|info', // this connection only
  'client|reply',
  'client|setname',
  'command|count',
  'command|docs',
  'command|getkeys',
  'command|getkeysandflags',
  'command|help',
  'command|info',
  'command|list',
  'echo',
  'hello',
  'latency|help', // the help text only
  'object|help',
  'ping',
  'quit',
  'readonly',
  'readwrite',
  'reset',
  'slowlog|help', // the help text only
  'time',
  'wait', // no replicas: returns 0
  'xgroup|help',
  'xinfo|help',
]

/** Every command and subcommand redis has, with its arity and whether it takes key arguments (which ACL checks). */
const COMMANDS_LUA = `local out = {}
local function walk(list)
  for _, c in ipairs(list) do
    local keyed = c[4] ~= 0 or (c[9] ~= nil and #c[9] > 0)
    for _, f in ipairs(c[3]) do if f['ok'] == 'movablekeys' then keyed = true end end
    if c[10] ~= nil and #c[10] > 0 then walk(c[10]) else table.insert(out, c[1] .. ' ' .. c[2] .. ' ' .. (keyed and 'keys' or 'none')) end
  end
end
walk(redis.call('COMMAND'))
return out`

describe('a shared redis: two instances, A and B, in one container', () => {
  let c: TestContainer
  const instanceA = testId('a')
  const instanceB = testId('b')
  let a: RedisBinding
  let b: RedisBinding
  const admin = (...args: string[]) => c.exec('/dbroker/admin-cli', ...args)
  const users = () => admin('ACL', 'USERS').split('\n').sort()
  const countUnder = (prefix: string) => Number(admin('EVAL', `return #redis.call('KEYS', ARGV[1])`, '0', `${prefix}*`))
  /** Everything B holds: its keys with their types and values, its user. */
  const bState = () =>
    admin(
      'EVAL',
      `local out = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do table.insert(out, k .. '=' .. redis.call('TYPE', k)['ok'] .. ':' .. redis.call('DUMP', k)) end table.sort(out) return out`,
      '0',
      `${b.key_prefix}*`,
    ) + admin('ACL', 'GETUSER', b.username)

  /** B's keys, as they are before every attack (one that got through must not spoil the next). */
  const seedB = async () => {
    const p = b.key_prefix
    admin('DEL', ...['secret', 'hash', 'list', 'set', 'zset', 'stream'].map((k) => `${p}${k}`))
    for (const args of [
      ['SET', `${p}secret`, 'b-secret'],
      ['HSET', `${p}hash`, 'f', 'v'],
      ['RPUSH', `${p}list`, '3', '1', '2'],
      ['SADD', `${p}set`, 'm'],
      ['ZADD', `${p}zset`, '1', 'm'],
      ['XADD', `${p}stream`, '1-1', 'f', 'v'],
    ])
      expect(await as(b, ...args)).not.toMatch(/ERR|NOPERM/)
  }

  beforeAll(async () => {
    c = await startContainer({
      name: testId('c'),
      image: IMAGE,
      port: PORT,
      containerPort: 6379,
      env: {},
      secretEnv: {REDIS_PASSWORD: randomBytes(16).toString('hex')},
      ready: (container) => container.exec('/dbroker/healthcheck') === '',
    })
    c.ok(['/dbroker/provision'], {instance_id: instanceA})
    c.ok(['/dbroker/provision'], {instance_id: instanceB})
    a = JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instanceA, binding_id: testId('ba')}))
    b = JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instanceB, binding_id: testId('bb')}))
    await seedB()
    expect(await as(a, 'RPUSH', `${a.key_prefix}list`, '3', '1', '2')).toBe('3')
  })
  afterAll(() => c?.remove())

  it('provision names the namespace, bind prints exactly {username, password, port, key_prefix}, and A works in its own prefix', async () => {
    expect(JSON.parse(c.ok(['/dbroker/provision'], {instance_id: instanceA}))).toEqual({
      key_prefix: `i${hex12(instanceA)}:`,
    })
    expect(Object.keys(a)).toEqual(['username', 'password', 'port', 'key_prefix'])
    expect(a).toMatchObject({
      port: 6379,
      key_prefix: `i${hex12(instanceA)}:`,
      username: expect.stringMatching(/^b[0-9a-f]{12}$/),
    })
    expect(a.password).toMatch(/^[A-Za-z0-9]{32}$/)
    const p = a.key_prefix
    expect(await as(a, 'SET', `${p}k`, 'v')).toBe('OK')
    expect(await as(a, 'GET', `${p}k`)).toBe('v')
    // The commands that allocate far more than they read (images/README.md) are refused, on its own keys too.
    for (const command of [['SORT', `${p}list`], ['SORT_RO', `${p}list`], ['PUBLISH', `${p}chan`, 'hi'], ['MULTI']])
      expect(await as(a, ...command)).toMatch(REFUSED)
    expect(await as(a, 'DEL', `${p}k`)).toBe('1')
  })

  // Each attack: what A's binding sends to list, read, change or delete B's keys, channels or users.
  const attacks: Array<[string, (p: string, own: string) => string[]]> = [
    ['read a key of B', (p) => ['GET', `${p}secret`]],
    ['read B in one MGET with its own', (p, own) => ['MGET', `${own}x`, `${p}secret`]],
    ['read a hash of B', (p) => ['HGETALL', `${p}hash`]],
    ['read a list of B', (p) => ['LRANGE', `${p}list`, '0', '-1']],
    ['read a stream of B', (p) => ['XRANGE', `${p}stream`, '-', '+']],
    ['read B through XREAD', (p) => ['XREAD', 'STREAMS', `${p}stream`, '0']],
    ['dump a key of B', (p) => ['DUMP', `${p}secret`]],
    ['test whether a key of B exists', (p) => ['EXISTS', `${p}secret`]],
    ['read the type of a key of B', (p) => ['TYPE', `${p}secret`]],
    ['read the encoding of a key of B', (p) => ['OBJECT', 'ENCODING', `${p}secret`]],
    ['read the memory of a key of B', (p) => ['MEMORY', 'USAGE', `${p}secret`]],
    ['sort its own list BY the keys of B', (p, own) => ['SORT', `${own}list`, 'BY', `${p}*`]],
    ['sort its own list GET a key of B', (p, own) => ['SORT', `${own}list`, 'GET', `${p}secret`]],
    ['sort a list of B into its own key', (p, own) => ['SORT', `${p}list`, 'STORE', `${own}stolen`]],
    ['union a set of B into its own key', (p, own) => ['SUNIONSTORE', `${own}stolen`, `${p}set`]],
    ['move a list of B into its own', (p, own) => ['LMOVE', `${p}list`, `${own}stolen`, 'LEFT', 'LEFT']],
    ['rename a key of B into its own', (p, own) => ['RENAME', `${p}secret`, `${own}stolen`]],
    ['copy a key of B into its own', (p, own) => ['COPY', `${p}secret`, `${own}stolen`]],
    ['watch a key of B', (p) => ['WATCH', `${p}secret`]],
    ['overwrite a key of B', (p) => ['SET', `${p}secret`, 'owned']],
    ['rename its own key over B', (p, own) => ['RENAME', `${own}list`, `${p}secret`]],
    [
      'store a GEO search into a key of B',
      (p, own) => ['GEOSEARCHSTORE', `${p}secret`, `${own}geo`, 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'],
    ],
    ['expire a key of B', (p) => ['EXPIRE', `${p}secret`, '1']],
    ['delete a key of B', (p) => ['DEL', `${p}secret`]],
    ['unlink a key of B', (p) => ['UNLINK', `${p}secret`]],
    ['list every key name with SCAN', () => ['SCAN', '0', 'COUNT', '1000']],
    ['list the names of B with SCAN MATCH', (p) => ['SCAN', '0', 'MATCH', `${p}*`, 'COUNT', '1000']],
    ['list every key name with KEYS', () => ['KEYS', '*']],
    ['sample another key name with RANDOMKEY', () => ['RANDOMKEY']],
    ['count every key with DBSIZE', () => ['DBSIZE']],
    ['count every key with INFO keyspace', () => ['INFO', 'keyspace']],
    ['list every channel with PUBSUB CHANNELS', () => ['PUBSUB', 'CHANNELS']],
    ['count the subscribers of B', (p) => ['PUBSUB', 'NUMSUB', `${p}chan`]],
    ['publish on a channel of B', (p) => ['PUBLISH', `${p}chan`, 'spoof']],
    ['publish on a sharded channel of B', (p) => ['SPUBLISH', `${p}chan`, 'spoof']],
    ['subscribe to a channel of B', (p) => ['SUBSCRIBE', `${p}chan`]],
    ['subscribe to every channel', () => ['PSUBSCRIBE', '*']],
    [
      'receive the name of every key anyone changes (CLIENT TRACKING BCAST)',
      () => ['CLIENT', 'TRACKING', 'ON', 'BCAST'],
    ],
    ['see every client', () => ['CLIENT', 'LIST']],
    ["kill B's connections", () => ['CLIENT', 'KILL', 'TYPE', 'normal']],
    ['read the memory report of every key', () => ['MEMORY', 'STATS']],
    ['wipe every tenant with FLUSHALL', () => ['FLUSHALL']],
    ['wipe every tenant with FLUSHDB', () => ['FLUSHDB', 'ASYNC']],
    ['swap database 0 away', () => ['SWAPDB', '0', '1']],
    ['leave database 0 with SELECT', () => ['SELECT', '1']],
    ['move its key to another database', (_, own) => ['MOVE', `${own}list`, '1']],
    ['copy its key to another database', (_, own) => ['COPY', `${own}list`, `${own}list`, 'DB', '1']],
    ['list every key from a script', () => ['EVAL', "return redis.call('SCAN', '0', 'COUNT', '1000')", '0']],
    ['read a key of B from a script', (p) => ['EVAL', `return redis.call('GET', '${p}secret')`, '0']],
    ['stop the scripts of B', () => ['SCRIPT', 'KILL']],
    ['drop the scripts of B', () => ['SCRIPT', 'FLUSH']],
    ['see the function B runs', () => ['FUNCTION', 'STATS']],
    ['list the users', () => ['ACL', 'LIST']],
    ["give itself B's keys", (p) => ['ACL', 'SETUSER', 'bxxxxxxxxxxxx', 'on', '>x', `~${p}*`, '+@all']],
    ['read the config', () => ['CONFIG', 'GET', '*']],
    ['watch every command', () => ['MONITOR']],
    ['migrate a key of B away', (p) => ['MIGRATE', '127.0.0.1', '6380', `${p}secret`, '0', '1000']],
    ['shut the server down', () => ['SHUTDOWN', 'NOSAVE']],
  ]
  it.each(attacks)("A's binding cannot %s", async (_, command) => {
    await seedB()
    const before = bState()
    expect(await as(a, ...command(b.key_prefix, a.key_prefix))).toMatch(REFUSED)
    expect(bState()).toBe(before)
    expect(await as(b, 'GET', `${b.key_prefix}secret`)).toBe('b-secret')
  })

  it("A's binding cannot log in as B's user, nor as the container's own users, with its password", async () => {
    for (const username of [b.username, 'default', 'dbroker-admin'])
      expect(await as({...a, username}, 'PING')).toMatch(/WRONGPASS/)
  })

  it('the keyless commands a tenant may run are exactly the reviewed ones', () => {
    const keyless = admin('EVAL', COMMANDS_LUA, '0')
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, , keys]) => keys === 'none')
    const dryRuns = keyless.map(([name, arity]) => {
      const parts = name.split('|')
      const fill = Array.from({length: Math.max(0, Math.abs(Number(arity)) - parts.length)}, () => '0')
      return ['ACL', 'DRYRUN', a.username, ...parts, ...fill].join(' ')
    })
    const replies = c
      .ok(['/dbroker/admin-cli', '--csv'], dryRuns.join('\n') + '\n')
      .trim()
      .split('\n')
      .map((r) => r.replace(/^"(.*)"$/, '$1'))
    expect(replies).toHaveLength(keyless.length)
    // A command that may run, but only on the tenant's channels, counts as allowed.
    const mayRun = (r: string) => r === 'OK' || /^This user has no permissions to access the '0' channel$/.test(r)
    const allowed = keyless.filter((_, i) => mayRun(replies[i])).map(([name]) => name)
    const unexpected = replies.filter((r) => !mayRun(r) && !/no permissions to run/.test(r))
    expect(unexpected).toEqual([])
    expect(allowed.sort()).toEqual(REVIEWED_KEYLESS)
  })

  it('provision and bind are idempotent: the same prefix, the same user; the password passed back keeps it', async () => {
    const instance = testId('i')
    const binding = testId('bi')
    const first = c.ok(['/dbroker/provision'], {instance_id: instance})
    expect(c.ok(['/dbroker/provision'], {instance_id: instance})).toBe(first)
    const one: RedisBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: binding}),
    )
    const again: RedisBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: binding, password: one.password}),
    )
    expect(again).toEqual(one)
    expect(await as(one, 'SET', `${one.key_prefix}x`, '1')).toBe('OK')
    const renewed: RedisBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: binding}),
    )
    expect(renewed.username).toBe(one.username)
    expect(await as(one, 'PING')).toMatch(/WRONGPASS/)
    expect(await as(renewed, 'GET', `${one.key_prefix}x`)).toBe('1')
    c.ok(['/dbroker/unbind', '--json'], {binding_id: binding})
    c.ok(['/dbroker/unbind', '--json'], {binding_id: binding})
    expect(users()).not.toContain(one.username)
    c.ok(['/dbroker/deprovision'], {instance_id: instance})
    expect(countUnder(one.key_prefix)).toBe(0)
  })

  it('a tenant stays confined to its prefix across a restart (the entrypoint rewrites every user)', async () => {
    await promisify(execFile)('docker', ['restart', c.name])
    await until('redis to answer after the restart', () => c.exec('/dbroker/healthcheck') === '', 60_000)
    expect(await as(a, 'GET', `${b.key_prefix}secret`)).toMatch(REFUSED)
    expect(await as(a, 'SCAN', '0')).toMatch(REFUSED)
    expect(await as(a, 'LRANGE', `${a.key_prefix}list`, '0', '-1')).toBe('3\n1\n2')
    expect(await as(b, 'GET', `${b.key_prefix}secret`)).toBe('b-secret')
  })

  it('bad input exits non-zero with a one-line reason on stderr and changes nothing', () => {
    const state = () => admin('ACL', 'LIST') + admin('DBSIZE')
    const before = state()
    expectEachRefused(c, 'redis', [
      ...badDocuments(instanceA),
      {what: 'a prefix of another form', input: {key_prefix: 'i*', binding_id: 'x'}, reason: /"key_prefix" must be/},
      {
        what: "a user name dbroker doesn't make",
        input: {instance_id: instanceA, username: 'default'},
        reason: /invalid BIND_USERNAME/,
        only: ['/dbroker/bind', '/dbroker/unbind'],
      },
    ])
    expect(state()).toBe(before)
  })

  it('no password is on any process argv during bind (strace sees every execve in the container)', async () => {
    await expectNoPasswordOnArgv(c, instanceA, /redis-cli/)
  })

  it('deprovision A removes every key under its prefix (in batches, a line break in a name included) and all its users; B keeps everything', async () => {
    const a2: RedisBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instanceA, binding_id: testId('ba')}),
    )
    // A key whose name holds a line break and then one of B's names: split lines would delete B's key.
    expect(await as(a, 'SET', `${a.key_prefix}x\n${b.key_prefix}secret`, 'trap')).toBe('OK')
    admin('EVAL', `for i = 1, 2500 do redis.call('SET', ARGV[1] .. i, i) end return 1`, '0', a.key_prefix)
    expect(countUnder(a.key_prefix)).toBeGreaterThan(2500)
    const before = bState()
    c.ok(['/dbroker/deprovision'], {instance_id: instanceA})
    expect(countUnder(a.key_prefix)).toBe(0)
    expect(users()).not.toContain(a.username)
    expect(users()).not.toContain(a2.username)
    expect(await as(a, 'PING')).toMatch(/WRONGPASS/)
    expect(bState()).toBe(before)
    expect(await as(b, 'GET', `${b.key_prefix}secret`)).toBe('b-secret')
    // Again: nothing left to remove is no error.
    c.ok(['/dbroker/deprovision'], {instance_id: instanceA})
  })

  it('the env form is unchanged: BIND_USERNAME/BIND_PASSWORD make a user of the whole container, quiet on stdout', async () => {
    const password = randomBytes(12).toString('hex')
    const out = c.ok(['/dbroker/bind'], undefined, {BIND_USERNAME: 'benvform00000', BIND_PASSWORD: password})
    expect(out).toBe('')
    const whole = {username: 'benvform00000', password, port: 6379, key_prefix: ''}
    expect(await as(whole, 'GET', `${b.key_prefix}secret`)).toBe('b-secret')
    expect(c.ok(['/dbroker/unbind'], undefined, {BIND_USERNAME: 'benvform00000'})).toBe('')
    expect(await as(whole, 'PING')).toMatch(/WRONGPASS/)
  })
})
