import {execFileSync, spawnSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {labelled} from '../helpers/docker.js'
import {ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'
import {as, type PsqlBinding, session} from '../helpers/tenant-psql.js'
import {until} from '../helpers/until.js'

// Another build can stand in, e.g. the image before these fixes, to watch each attack work there.
const IMAGE = process.env.DBROKER_TEST_POSTGRES_IMAGE ?? 'dbroker/postgresql:15'
const SERVICE = '6c0e2f4a-1b3d-4e5f-9a7b-00000000c701'
const SHARED = {service_id: SERVICE, plan_id: '6c0e2f4a-1b3d-4e5f-9a7b-00000000c711'}
/** The broker's deadline for one lifecycle executable (EXEC_DEADLINE_MS). */
const HOOK_DEADLINE_MS = 25_000

const catalogYaml = `services:
  - id: ${SERVICE}
    name: postgresql-hooks-under-attack
    description: tenants of one postgresql container against dbroker's own hooks
    bindable: true
    plans:
      - id: ${SHARED.plan_id}
        name: shared
        description: a database per instance in one container
        kind: shared
        container:
          image: ${IMAGE}
          ports: [5432]
          volumes: [/var/lib/postgresql/data]
          memory: 256m
          restart: unless-stopped
          credentials:
            database: true
            env: {username: POSTGRES_USER, password: POSTGRES_PASSWORD, database: POSTGRES_DB}
          binding_credentials: per-binding
          uri: postgresql://{username}:{password}@{host}:{port}/{database}
          readiness: {probe: exec, command: [pg_isready, -q, -h, 127.0.0.1, -p, "5432"], timeout: 120s}
`

type Binding = PsqlBinding & {bindingId: string}
type Tenant = Binding & {instanceId: string}

/** What the server logs while a hook parses or plans a statement with those settings on, or sorts with trace_sort. */
const STATEMENT_INTERNALS = /LOG: +(parse tree|rewritten parse tree|plan):|LOG: +begin (tuple|index|datum) sort/

describe("postgresql: a tenant of a shared container cannot steer dbroker's hooks, nor keep another's unbind from finishing", () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({catalog: catalogYaml, portRange: [44000, 44019]})
  })
  afterAll(async () => {
    await t?.close()
  })

  const bind = async (instanceId: string): Promise<Binding> => {
    const bindingId = testId('b')
    const bound = await t.osb.bind(instanceId, bindingId, SHARED)
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    return {...(bound.body.credentials as Binding), bindingId}
  }
  /** A new instance and one binding of it, through the broker. */
  async function tenant(): Promise<Tenant> {
    const instanceId = testId()
    expect((await t.osb.provision(instanceId, {...SHARED, ...ORG})).status).toBe(201)
    return {...(await bind(instanceId)), instanceId}
  }
  const containerId = async () =>
    (await labelled(undefined, t.system.installationId)).containers.find(
      (c) => c.Labels['dbroker.shared'] === 'postgresql-hooks-under-attack-shared',
    )!.Id
  const superuser = async (sql: string) =>
    execFileSync(
      'docker',
      ['exec', '-u', 'postgres', await containerId(), 'psql', '-XAtq', '-d', 'postgres', '-c', sql],
      {
        encoding: 'utf8',
      },
    ).trim()
  /** The server's log (the container's stdout and stderr) since a Unix time in seconds. */
  const serverLog = async (since: string) => {
    const out = spawnSync('docker', ['logs', '--since', since, await containerId()], {encoding: 'utf8'})
    return `${out.stdout}${out.stderr}`
  }
  const now = () => (Date.now() / 1000).toFixed(3)
  const rolesLeft = (names: string[]) =>
    superuser(
      `SELECT coalesce(string_agg(rolname, ',' ORDER BY rolname), '') FROM pg_roles WHERE rolname IN (${names.map((n) => `'${n}'`).join(', ')})`,
    )

  /** Until `count` sessions of the binding wait in their open transaction (pg_sleep). */
  const inTransaction = (b: Binding, count: number) =>
    until(`${count} open transaction(s) of ${b.username}`, async () => {
      const sql = `SELECT count(*) FROM pg_stat_activity WHERE usename = '${b.username}' AND wait_event = 'PgSleep'`
      return (await superuser(sql)) === String(count)
    })

  it("A's logging settings (parse trees, plans, sorts) steer neither B's unbind in A's database nor the bind that refills A's spare user: no statement internals, no password in the log", async () => {
    const [a, b] = [await tenant(), await tenant()]
    const spares = () => t.system.store.spareUsers(a.instanceId)
    // The pool is full before the attack: the next bind claims a spare, and a bind hook makes a new one after it.
    const before = await until("A's spare users", async () =>
      (await spares()).length >= 1 ? await spares() : undefined,
    )
    // Something in A's database names B's role, so B's unbind has to clean up in there, under A's settings.
    expect(
      await as(
        a,
        `CREATE TABLE shared_with_b (x int); GRANT SELECT ON shared_with_b TO "${b.username}";
         ALTER DATABASE "${a.database}" SET debug_print_parse = on;
         ALTER DATABASE "${a.database}" SET debug_print_rewritten = on;
         ALTER DATABASE "${a.database}" SET debug_print_plan = on;
         ALTER DATABASE "${a.database}" SET trace_sort = on;
         ALTER ROLE ALL IN DATABASE "${a.database}" SET log_parameter_max_length_on_error = -1;
         SET ROLE NONE; ALTER ROLE CURRENT_USER SET debug_print_parse = on;
         ALTER ROLE CURRENT_USER IN DATABASE "${a.database}" SET debug_print_plan = on`,
      ),
    ).toBe('')
    const since = now()
    expect((await t.osb.unbind(b.instanceId, b.bindingId, SHARED)).status).toBe(200)
    await bind(a.instanceId)
    const made = await until("the bind hook that refills A's spare users", async () => {
      const fresh = (await spares()).filter((u) => !before.some((old) => old.username === u.username))
      return fresh.length > 0 ? fresh : undefined
    })
    const log = await serverLog(since)
    expect({
      internals: log.split('\n').filter((line) => STATEMENT_INTERNALS.test(line)),
      passwords: made.filter((u) => log.includes(u.password)).length,
    }).toEqual({internals: [], passwords: 0})
    // That hook has taken them back: for A's database, its bindings, its bindings in its database.
    expect(
      await superuser(
        `SELECT coalesce(string_agg(format('%s/%s: %s', s.setdatabase, s.setrole, c), ', '), '')
         FROM pg_db_role_setting s, unnest(s.setconfig) c
         WHERE split_part(c, '=', 1) IN ('debug_print_parse', 'debug_print_rewritten', 'debug_print_plan', 'trace_sort', 'log_parameter_max_length_on_error')`,
      ),
    ).toBe('')
    expect(await as(a, 'SHOW debug_print_parse')).toBe('off')
  })

  it('the settings the image resets are every one a tenant may set that logs: none is missed', async () => {
    await tenant()
    // Of those, these log nothing: a client's name, and JIT/parallel query switches.
    const silent = ['application_name', 'force_parallel_mode', 'jit_expressions', 'jit_tuple_deforming']
    const userSet = await superuser(
      `SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings
       WHERE context = 'user' AND (category LIKE 'Reporting and Logging%' OR category = 'Developer Options')
         AND name NOT IN (${silent.map((n) => `'${n}'`).join(', ')})`,
    )
    const image = execFileSync(
      'docker',
      ['exec', await containerId(), 'bash', '-c', 'source /dbroker/superuser-session.sh && printf %s "$LOG_SETTINGS"'],
      {encoding: 'utf8'},
    )
    expect(image.split(',').sort()).toEqual(userSet.split(','))
  })

  it("A's policy and grants naming B's roles, and A's open transactions on them, keep neither B's unbind nor its deprovision from finishing, and no error names A", async () => {
    const [a, b] = [await tenant(), await tenant()]
    const [b2, b3] = [await bind(b.instanceId), await bind(b.instanceId)]
    // Every role's name is in pg_roles; the database's owner says which is B's instance's.
    const ownerOfB = await as(a, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${b.database}'`)
    expect(ownerOfB).toMatch(/^dbroker_owner_[0-9a-f]{12}$/)
    expect(
      await as(
        a,
        `CREATE TABLE bait (x int); ALTER TABLE bait ENABLE ROW LEVEL SECURITY;
         CREATE POLICY on_b ON bait TO "${b.username}" USING (true);
         CREATE POLICY on_b_owner ON bait TO "${ownerOfB}" USING (true);
         GRANT SELECT ON bait TO "${b.username}", "${ownerOfB}";
         ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO "${b.username}"`,
      ),
    ).toBe('')
    const held = [
      session(a, 'BEGIN; LOCK TABLE bait IN ACCESS SHARE MODE; SELECT pg_sleep(120)'),
      session(a, `BEGIN; GRANT UPDATE ON bait TO "${b2.username}"; SELECT pg_sleep(120)`),
    ]
    try {
      await inTransaction(a, 2)
      const started = Date.now()
      const unbound = await t.osb.unbind(b.instanceId, b.bindingId, SHARED)
      const took = Date.now() - started
      expect({
        status: unbound.status,
        namesA: JSON.stringify(unbound.body).includes(a.username),
        withinDeadline: took < HOOK_DEADLINE_MS,
      }).toEqual({status: 200, namesA: false, withinDeadline: true})
      expect(await rolesLeft([b.username])).toBe('')

      // B's own binding b3 keeps a lock on what b2 owns: b2's unbind fails (after it revoked b2's membership).
      expect(
        await as(b2, `SET ROLE NONE; CREATE TABLE owned_by_b2 (x int); GRANT ALL ON owned_by_b2 TO "${ownerOfB}"`),
      ).toBe('')
      held.push(session(b3, 'BEGIN; LOCK TABLE owned_by_b2 IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120)'))
      await inTransaction(b3, 1)
      const refused = await t.osb.unbind(b.instanceId, b2.bindingId, SHARED)
      expect({status: refused.status, namesA: JSON.stringify(refused.body).includes(a.username)}).toEqual({
        status: 500,
        namesA: false,
      })
      expect(
        await superuser(
          `SELECT count(*) FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = '${b2.username}')`,
        ),
      ).toBe('0')

      const gone = await t.osb.deprovision(b.instanceId, SHARED)
      expect({status: gone.status, namesA: JSON.stringify(gone.body).includes(a.username)}).toEqual({
        status: 200,
        namesA: false,
      })
      expect(await rolesLeft([b.username, b2.username, b3.username, ownerOfB])).toBe('')
    } finally {
      for (const s of held) s.child.kill()
    }
    // A's database keeps its table; what named B's roles went with them.
    expect(await as(a, "SELECT count(*) FROM pg_policies WHERE tablename = 'bait'")).toBe('0')
    expect(await as(a, 'SELECT count(*) FROM bait')).toBe('0')
  }, 120_000)
})
