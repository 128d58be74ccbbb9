import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {testId} from '../helpers/system.js'
import {as as psqlAs} from '../helpers/tenant-psql.js'
import {until} from '../helpers/until.js'
import {
  badDocuments,
  expectEachRefused,
  expectNoPasswordOnArgv,
  startContainer,
  type TestContainer,
} from './shared-container.js'

// Another build can stand in (e.g. one whose provision leaves CONNECT to PUBLIC) to watch each attack work there.
const IMAGE = process.env.DBROKER_TEST_POSTGRES_IMAGE ?? 'dbroker/postgresql:15'
const PORT = 47402
const OWN_DB = 'appdb'

interface PgBinding {
  username: string
  password: string
  database: string
  port: number
}

const hex12 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12)
const ownerRole = (database: string) => `dbroker_owner_${hex12(database)}`

/** psql as a binding through the container's published port (what bind answers names the port inside). */
const as = (b: PgBinding, sql: string, database = b.database) => psqlAs({...b, port: PORT}, sql, database)

/** A psql session of a binding that keeps running `sql`; the caller kills it. */
const sessionOf = (b: PgBinding, sql: string) =>
  spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(PORT), '-U', b.username, '-d', b.database, '-c', sql], {
    env: {...process.env, PGPASSWORD: b.password},
    stdio: 'ignore',
  })

const REFUSED =
  /(ERROR|FATAL): +(permission denied|must be (owner|a member|member|superuser|able to SET ROLE)|must have admin option)/

describe('a shared postgresql: two instances, A and B, in one container', () => {
  let c: TestContainer
  const instanceA = testId('a')
  const instanceB = testId('b')
  let a: PgBinding
  let b: PgBinding
  const superuser = (sql: string, database = 'postgres') =>
    c.exec(
      'setpriv',
      '--reuid=postgres',
      '--regid=postgres',
      '--init-groups',
      'psql',
      '-X',
      '-q',
      '-t',
      '-A',
      '-d',
      database,
      '-c',
      sql,
    )
  const roles = () =>
    superuser("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_'")
  const databases = () => superuser("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
  /** Everything B holds: its rows, its roles and their attributes, its database's settings and privileges. */
  const bState = () =>
    superuser(
      `SELECT string_agg(r.rolname || ':' || r.rolcanlogin || ':' || coalesce(a.rolpassword, '-'), ',' ORDER BY r.rolname) FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname IN ('${b.username}', '${ownerRole(b.database)}')`,
    ) +
    superuser(
      `SELECT datconnlimit || ':' || datallowconn || ':' || coalesce(datacl::text, '-') FROM pg_database WHERE datname = '${b.database}'`,
    ) +
    superuser("SELECT string_agg(x, ',' ORDER BY x) FROM secret", b.database)

  beforeAll(async () => {
    c = await startContainer({
      name: testId('c'),
      image: IMAGE,
      port: PORT,
      containerPort: 5432,
      env: {POSTGRES_USER: 'app', POSTGRES_DB: OWN_DB},
      secretEnv: {POSTGRES_PASSWORD: randomBytes(16).toString('hex')},
      ready: (container) => {
        container.exec('pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432')
        return true
      },
    })
    c.ok(['/dbroker/provision'], {instance_id: instanceA})
    c.ok(['/dbroker/provision'], {instance_id: instanceB})
    a = JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instanceA, binding_id: testId('ba')}))
    b = JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instanceB, binding_id: testId('bb')}))
    expect(await as(b, "CREATE TABLE secret (x text); INSERT INTO secret VALUES ('b-secret')")).toBe('')
  })
  afterAll(() => c?.remove())

  it('provision names the database, bind prints exactly {username, password, database, port}, and A works in its own database', async () => {
    const database = `db${hex12(instanceA)}`
    expect(JSON.parse(c.ok(['/dbroker/provision'], {instance_id: instanceA}))).toEqual({database})
    expect(Object.keys(a)).toEqual(['username', 'password', 'database', 'port'])
    expect(a).toMatchObject({database, port: 5432, username: expect.stringMatching(/^b[0-9a-f]{12}$/)})
    expect(a.password).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(await as(a, 'SELECT current_user, session_user')).toBe(`${ownerRole(database)}|${a.username}`)
    expect(await as(a, 'CREATE TABLE public.notes (n int); INSERT INTO notes VALUES (1); SELECT n FROM notes')).toBe(
      '1',
    )
    const a2: PgBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instanceA, binding_id: testId('ba')}),
    )
    expect(await as(a2, 'INSERT INTO notes VALUES (2); SELECT sum(n) FROM notes')).toBe('3')
    c.ok(['/dbroker/unbind', '--json'], {username: a2.username})
  })

  // Each attack: what A's binding sends to list, read, change or delete B's rows, database or roles.
  const attacks: Array<[string, (b: PgBinding, a: PgBinding) => [sql: string, database?: string]]> = [
    // Connected, it would see B's tables, views' and functions' source, and call B's functions (EXECUTE is PUBLIC's).
    [
      "connect to B's database and list its tables",
      (b) => ["SELECT string_agg(relname, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace", b.database],
    ],
    ["connect to the container's own database", () => ['SELECT 1', OWN_DB]],
    ['connect to the maintenance database', () => ['SELECT 1', 'postgres']],
    ['connect to template1', () => ['SELECT 1', 'template1']],
    ["act as B's owner role", (b) => [`SET ROLE ${ownerRole(b.database)}`]],
    ["grant itself B's owner role", (b, a) => [`GRANT ${ownerRole(b.database)} TO ${a.username}`]],
    ["become B's binding", (b) => [`SET SESSION AUTHORIZATION ${b.username}`]],
    ["set the password of B's binding", (b) => [`ALTER ROLE ${b.username} PASSWORD 'taken'`]],
    ["lock B's binding out", (b) => [`ALTER ROLE ${b.username} NOLOGIN`]],
    ["rename B's owner role", (b) => [`ALTER ROLE ${ownerRole(b.database)} RENAME TO x`]],
    ["drop B's binding", (b) => [`DROP ROLE ${b.username}`]],
    ["lock everyone out of B's database", (b) => [`ALTER DATABASE ${b.database} CONNECTION LIMIT 0`]],
    ["close B's database", (b) => [`ALTER DATABASE ${b.database} ALLOW_CONNECTIONS false`]],
    ["steer B's sessions with a database setting", (b) => [`ALTER DATABASE ${b.database} SET search_path = evil`]],
    ["comment on B's database", (b) => [`COMMENT ON DATABASE ${b.database} IS 'owned'`]],
    ["drop B's database", (b) => [`DROP DATABASE ${b.database}`]],
    ["take B's database over", (b, a) => [`ALTER DATABASE ${b.database} OWNER TO ${a.username}`]],
    [
      "rename its own database to take B's name's place",
      (b, a) => [`ALTER DATABASE ${a.database} RENAME TO x${b.database}`],
    ],
    ['create a database', () => ['CREATE DATABASE intruder']],
    ['create a role', () => ['CREATE ROLE intruder LOGIN']],
    ["hand what it owns to B's role", (b) => [`REASSIGN OWNED BY CURRENT_USER TO ${ownerRole(b.database)}`]],
    ['reach B through dblink', () => ['CREATE EXTENSION dblink']],
    ['reach B through postgres_fdw', () => ['CREATE EXTENSION postgres_fdw']],
    ['run a program on the server', () => ["COPY (SELECT 1) TO PROGRAM 'id'"]],
    ["read B's files on the server", () => ["SELECT pg_read_file('global/pg_control')"]],
    ["import B's files as a large object", () => ["SELECT lo_import('/var/lib/postgresql/data/global/pg_control')"]],
    ['change a server setting', () => ["ALTER SYSTEM SET log_statement = 'all'"]],
  ]
  it.each(attacks)("A's binding cannot %s", async (_, attack) => {
    const before = bState()
    const [sql, database] = attack(b, a)
    expect(await as(a, sql, database)).toMatch(REFUSED)
    expect(bState()).toBe(before)
    expect(await as(b, 'SELECT x FROM secret')).toBe('b-secret')
  })

  it("A's binding cannot open B's database to itself: GRANT is refused, the connection too", async () => {
    const before = bState()
    expect(await as(a, `GRANT CONNECT ON DATABASE ${b.database} TO PUBLIC, ${a.username}`)).toMatch(REFUSED)
    expect(await as(a, 'SELECT 1', b.database)).toMatch(REFUSED)
    expect(bState()).toBe(before)
  })

  it("A's binding cannot end, cancel or read B's sessions", async () => {
    const session = sessionOf(b, "SELECT 'b-query', pg_sleep(60)")
    try {
      const pid = await until('B to run its query', () =>
        superuser(`SELECT pid FROM pg_stat_activity WHERE usename = '${b.username}' AND query LIKE '%b-query%'`),
      )
      expect(await as(a, `SELECT pg_terminate_backend(${pid})`)).toMatch(REFUSED)
      expect(await as(a, `SELECT pg_cancel_backend(${pid})`)).toMatch(REFUSED)
      // pg_stat_activity itself is not PUBLIC's in an instance's database (hide-activity.sql).
      expect(await as(a, `SELECT query FROM pg_stat_activity WHERE pid = ${pid}`)).toMatch(REFUSED)
      expect(superuser(`SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`)).toBe('1')
    } finally {
      session.kill()
    }
  })

  it('provision and bind are idempotent: the same database, the same role; the password passed back keeps it', async () => {
    const instance = testId('i')
    const binding = testId('bi')
    const first = c.ok(['/dbroker/provision'], {instance_id: instance})
    expect(c.ok(['/dbroker/provision'], {instance_id: instance})).toBe(first)
    const one: PgBinding = JSON.parse(c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: binding}))
    const again: PgBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: binding, password: one.password}),
    )
    expect(again).toEqual(one)
    expect(await as(one, 'SELECT 1')).toBe('1')
    const renewed: PgBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instance, binding_id: binding}),
    )
    expect(renewed.username).toBe(one.username)
    expect(await as(one, 'SELECT 1')).toMatch(/password authentication failed/)
    expect(await as(renewed, 'SELECT 1')).toBe('1')
    // What a binding made as itself (not as the owner) goes to its instance's owner at unbind, not to the container's.
    expect(await as(renewed, 'RESET ROLE; CREATE TABLE made_by_binding (n int)')).toBe('')
    c.ok(['/dbroker/unbind', '--json'], {binding_id: binding})
    c.ok(['/dbroker/unbind', '--json'], {binding_id: binding})
    expect(roles()).not.toContain(one.username)
    expect(superuser("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_binding'", one.database)).toBe(
      ownerRole(one.database),
    )
    c.ok(['/dbroker/deprovision'], {instance_id: instance})
    expect(databases()).not.toContain(one.database)
  })

  it('bad input exits non-zero with a one-line reason on stderr and changes nothing', () => {
    const state = () =>
      roles() +
      superuser("SELECT string_agg(datname || coalesce(datacl::text, ''), ',' ORDER BY datname) FROM pg_database")
    const before = state()
    const namesDatabase = ['/dbroker/provision', '/dbroker/deprovision', '/dbroker/bind']
    expectEachRefused(c, 'postgresql', [
      ...badDocuments(instanceA),
      {
        what: 'SQL in a database name',
        input: {database: 'x"; DROP DATABASE appdb; --', binding_id: 'x'},
        reason: /must match/,
        only: namesDatabase,
      },
      {
        what: 'the maintenance database',
        input: {database: 'postgres', binding_id: 'x'},
        reason: /reserved/,
        only: namesDatabase,
      },
      {
        what: "the container's own database",
        input: {database: OWN_DB},
        reason: /container's own/,
        only: ['/dbroker/provision', '/dbroker/deprovision'],
      },
      {
        what: 'a reserved role',
        input: {instance_id: instanceA, username: 'dbroker_owner'},
        reason: /reserved/,
        only: ['/dbroker/bind', '/dbroker/unbind'],
      },
      {
        what: 'a database not provisioned',
        input: {database: 'nothere', binding_id: 'x'},
        reason: /not provisioned/,
        only: ['/dbroker/bind'],
      },
    ])
    expect(state()).toBe(before)
  })

  it('no password is on any process argv during bind (strace sees every execve in the container)', async () => {
    await expectNoPasswordOnArgv(c, instanceA, /psql/)
  })

  it('the env form is unchanged: a binding of the container’s own database, which cannot connect to an instance’s', async () => {
    const password = randomBytes(12).toString('hex')
    expect(c.ok(['/dbroker/bind'], undefined, {BIND_USERNAME: 'benvform00000', BIND_PASSWORD: password})).toBe('')
    const own = {username: 'benvform00000', password, database: OWN_DB, port: 5432}
    expect(await as(own, 'SELECT current_user')).toBe('dbroker_owner')
    expect(await as(own, 'SELECT 1', b.database)).toMatch(REFUSED)
    expect(c.ok(['/dbroker/unbind'], undefined, {BIND_USERNAME: 'benvform00000'})).toBe('')
    expect(roles()).not.toContain('benvform00000')
  })

  it('deprovision A ends its sessions, drops its database and every role of it (whatever B granted them); B keeps everything', async () => {
    const a2: PgBinding = JSON.parse(
      c.ok(['/dbroker/bind', '--json'], {instance_id: instanceA, binding_id: testId('ba')}),
    )
    expect(await as(a2, 'RESET ROLE; CREATE TABLE owned_by_a2 (n int)')).toBe('')
    // B shares a table with A's role: a privilege that ties A's role to B's database.
    expect(await as(b, `GRANT SELECT ON secret TO ${ownerRole(a.database)}`)).toBe('')
    const session = sessionOf(a, 'SELECT pg_sleep(60)')
    const ended = new Promise<number | null>((resolve) => session.on('exit', resolve))
    await until('A to run its query', () => superuser(`SELECT 1 FROM pg_stat_activity WHERE usename = '${a.username}'`))
    c.ok(['/dbroker/deprovision'], {instance_id: instanceA})
    expect(await ended).not.toBe(0)
    expect(databases()).not.toContain(a.database)
    for (const role of [a.username, a2.username, ownerRole(a.database)]) expect(roles()).not.toContain(role)
    expect(await as(a, 'SELECT 1')).toMatch(/password authentication failed/)
    expect(await as(b, 'SELECT x FROM secret')).toBe('b-secret')
    expect(roles()).toContain(b.username)
    c.ok(['/dbroker/deprovision'], {instance_id: instanceA})
  })
})
