import {execFileSync, spawn} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {psql, psqlError} from '../helpers/clients.js'
import {docker, labelled} from '../helpers/docker.js'
import {ORG, POSTGRES, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

type Credentials = {uri: string; username: string; password: string; port: number; database: string}

/**
 * What the owner role every binding acts as can plant in its own database:
 * a pg_roles view and a format() that make a superuser who calls them create
 * another superuser, and a search_path that puts them before pg_catalog; then
 * a table the binding owns itself, so its unbind has to clean up in there.
 */
const trojan = (database: string) => `
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap() RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $f$
BEGIN
  IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
    EXECUTE pg_catalog.format('CREATE ROLE %I SUPERUSER LOGIN', 'pwned_' || pg_catalog.txid_current());
  END IF;
  RETURN true;
EXCEPTION WHEN duplicate_object THEN RETURN true;
END $f$;
CREATE VIEW evil.pg_roles AS SELECT r.* FROM pg_catalog.pg_roles r WHERE evil.trap();
CREATE FUNCTION evil.format(f text, VARIADIC a text[]) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN PERFORM evil.trap(); RETURN pg_catalog.format(f, VARIADIC a); END $f$;
CREATE FUNCTION evil.pg_terminate_backend(p integer) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.trap() $f$;
ALTER DATABASE "${database}" SET search_path = evil, pg_catalog;
GRANT CREATE ON SCHEMA evil TO SESSION_USER;
SET ROLE NONE;
CREATE TABLE evil.attacker_table (x int);
`

describe('a postgresql binding attacks its own instance', () => {
  let t: TestSystem
  const id = testId()

  beforeAll(async () => {
    t = await startTestSystem({portRange: [46700, 46719]})
    expect((await t.osb.provision(id, {...POSTGRES, ...ORG})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
  })

  const container = async () => (await labelled(id)).containers[0].Id
  /** psql as the superuser inside the container (docker exec), in the maintenance database, unsteerable. */
  const asSuperuser = async (sql: string) =>
    execFileSync(
      'docker',
      [
        'exec',
        '-u',
        'postgres',
        '-e',
        'PGOPTIONS=-c search_path=pg_catalog,pg_temp -c role=none',
        await container(),
        'psql',
        '-X',
        '-q',
        '-t',
        '-A',
        '-v',
        'ON_ERROR_STOP=1',
        '-d',
        'postgres',
        '-c',
        sql,
      ],
      {encoding: 'utf8', stdio: 'pipe', timeout: 20_000},
    ).trim()
  const powerfulRoles = () =>
    asSuperuser(
      "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls",
    )
  const bind = async (bindingId = testId('b')) => {
    const bound = await t.osb.bind(id, bindingId, POSTGRES)
    expect(bound.status).toBe(201)
    return {bindingId, credentials: bound.body.credentials as Credentials}
  }
  const uriOf = (c: Credentials, username: string, password: string, database = c.database) =>
    `postgresql://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${c.port}/${database}`
  const spareNames = async () => (await t.system.store.spareUsers(id)).map((u) => u.username)

  it('bindings still create, read and write tables and schemas and share them with each other and the instance login', async () => {
    const instance = (await t.system.store.getInstance(id))!
    const [a, b] = [await bind(), await bind()]
    psql(
      a.credentials.uri,
      "CREATE TABLE notes (who text); INSERT INTO notes VALUES ('a'); CREATE SCHEMA app; CREATE TABLE app.items (n int); INSERT INTO app.items VALUES (1)",
    )
    psql(
      b.credentials.uri,
      "INSERT INTO notes VALUES ('b'); INSERT INTO app.items VALUES (2); ALTER TABLE app.items ADD COLUMN label text",
    )
    expect(psql(a.credentials.uri, "SELECT string_agg(who, ',' ORDER BY who) FROM notes")).toBe('a,b')
    expect((await t.osb.unbind(id, a.bindingId, POSTGRES)).status).toBe(200)
    // What a created outlives its unbind; the instance login sees and changes it too.
    const login = uriOf(a.credentials, instance.credentials.username, instance.credentials.password)
    expect(psql(login, 'INSERT INTO app.items VALUES (3); SELECT sum(n) FROM app.items')).toBe('6')
    expect(psql(b.credentials.uri, 'SELECT count(*) FROM notes')).toBe('2')
    psql(b.credentials.uri, 'DROP TABLE notes; DROP SCHEMA app CASCADE')
    expect((await t.osb.unbind(id, b.bindingId, POSTGRES)).status).toBe(200)
  })

  it('a search_path trojan in its database runs as superuser neither in its unbind nor in the spare-user refill', async () => {
    await vi.waitFor(async () => expect(await spareNames()).toHaveLength(2), {timeout: 30_000, interval: 100})
    const attacker = await bind()
    await vi.waitFor(async () => expect(await spareNames()).toHaveLength(2), {timeout: 30_000, interval: 100})
    psql(attacker.credentials.uri, trojan(attacker.credentials.database))
    expect(
      psql(
        attacker.credentials.uri,
        "SELECT pg_get_userbyid(relowner) = session_user FROM pg_class WHERE relname = 'attacker_table'",
      ),
    ).toBe('t')
    // The trojan is live for anyone who connects to the database now.
    expect(psql(attacker.credentials.uri, 'SHOW search_path')).toBe('evil, pg_catalog')

    // A bind claims a spare; the broker makes the next one with /dbroker/bind.
    const before = await spareNames()
    const other = await bind()
    await vi.waitFor(
      async () => {
        const now = await spareNames()
        expect(now).toHaveLength(2)
        expect(now.filter((u) => !before.includes(u))).toHaveLength(1)
      },
      {timeout: 30_000, interval: 100},
    )
    const afterRefill = await powerfulRoles()
    expect((await t.osb.unbind(id, attacker.bindingId, POSTGRES)).status).toBe(200)
    const afterUnbind = await powerfulRoles()

    expect({afterRefill, afterUnbind}).toEqual({afterRefill: 'postgres', afterUnbind: 'postgres'})
    expect(psqlError(other.credentials.uri, "COPY (SELECT 1) TO PROGRAM 'id'")).toMatch(
      /pg_execute_server_program|must be superuser/,
    )
    expect(
      psqlError(
        other.credentials.uri,
        "CREATE TEMP TABLE out (line text); COPY out FROM PROGRAM 'cat /proc/1/environ'",
      ),
    ).toMatch(/pg_execute_server_program|must be superuser/)
    expect(psqlError(other.credentials.uri, "SELECT pg_read_file('/proc/1/environ')")).toMatch(/permission denied/)
    expect(psqlError(attacker.credentials.uri, 'SELECT 1')).toMatch(/password authentication failed|does not exist/)
    // What the attacker owned went to the role the bindings act as.
    expect(
      psql(
        other.credentials.uri,
        "SELECT pg_get_userbyid(relowner) = current_user FROM pg_class WHERE relname = 'attacker_table'",
      ),
    ).toBe('t')
    // The databases dbroker's own sessions use are out of reach.
    for (const database of ['postgres', 'template1']) {
      const {username, password} = other.credentials
      expect(psqlError(uriOf(other.credentials, username, password, database), 'SELECT 1'), database).toMatch(
        /permission denied for database/,
      )
    }
    psql(
      other.credentials.uri,
      `ALTER DATABASE "${other.credentials.database}" RESET search_path; DROP SCHEMA evil CASCADE`,
    )
    expect((await t.osb.unbind(id, other.bindingId, POSTGRES)).status).toBe(200)
  })

  it("a binding cannot take over the instance's login: the password it sets does not log in after its unbind", async () => {
    const instance = (await t.system.store.getInstance(id))!
    const owner = instance.credentials.username
    const {bindingId, credentials} = await bind()
    const actingAs = psql(credentials.uri, 'SELECT current_user')
    // Whatever these do, neither role may let the attacker in once the binding is gone.
    psqlError(credentials.uri, `ALTER ROLE "${owner}" PASSWORD 'attacker-password'`)
    psqlError(credentials.uri, "ALTER ROLE CURRENT_USER PASSWORD 'attacker-password'")
    expect((await t.osb.unbind(id, bindingId, POSTGRES)).status).toBe(200)

    for (const user of new Set([owner, actingAs])) {
      expect(psqlError(uriOf(credentials, user, 'attacker-password'), 'SELECT 1'), `login as ${user}`).toMatch(
        /password authentication failed|not permitted to log in/,
      )
    }
    // The instance's own credentials still work.
    expect(psql(uriOf(credentials, owner, instance.credentials.password), 'SELECT session_user')).toBe(owner)
  })

  /** A psql session that stays open (as an application's would), fed statements on stdin; `printed` is what it answered. */
  const openSession = (uri: string) => {
    const child = spawn('psql', [uri, '-X', '-q', '-t', '-A'], {stdio: ['pipe', 'pipe', 'pipe']})
    const session = {child, printed: '', send: (sql: string) => child.stdin.write(`${sql}\n`)}
    child.stdout.on('data', (chunk: Buffer) => (session.printed += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (session.printed += chunk.toString()))
    return session
  }
  const restartContainer = async () => {
    await docker.getContainer(await container()).restart()
    await vi.waitFor(() => asSuperuser('SELECT 1'), {timeout: 60_000, interval: 250})
  }

  it("another binding's open lock on what a binding owns stalls its unbind neither forever nor with the login open: a clear error, then done once released", async () => {
    const [owner, locker] = [await bind(), await bind()]
    // What the unbind has to clean up in the database: a table the binding owns itself.
    psql(
      owner.credentials.uri,
      'SET ROLE NONE; CREATE TABLE owned_by_binding (x int); GRANT ALL ON owned_by_binding TO dbroker_owner',
    )
    const session = openSession(locker.credentials.uri)
    try {
      session.send("BEGIN; LOCK TABLE owned_by_binding IN ACCESS EXCLUSIVE MODE; SELECT 'locked';")
      await vi.waitFor(() => expect(session.printed).toContain('locked'), {timeout: 10_000, interval: 50})

      const refused = await t.osb.unbind(id, owner.bindingId, POSTGRES)
      expect({status: refused.status, body: refused.body}).toEqual({
        status: 500,
        body: expect.objectContaining({
          description: expect.stringMatching(
            /stays locked by another session \(pid \d+ \(b[a-z0-9]{12}\)\).*unbind again/,
          ),
        }),
      })
      // While it is refused, its credentials already let nobody in.
      expect(psqlError(owner.credentials.uri, 'SELECT 1')).toMatch(
        /not permitted to log in|password authentication failed/,
      )
      session.send("COMMIT; SELECT 'released';")
      await vi.waitFor(() => expect(session.printed).toContain('released'), {timeout: 10_000, interval: 50})
    } finally {
      session.child.kill()
    }
    expect((await t.osb.unbind(id, owner.bindingId, POSTGRES)).status).toBe(200)
    expect(await asSuperuser(`SELECT count(*) FROM pg_roles WHERE rolname = '${owner.credentials.username}'`)).toBe('0')
    expect(
      psql(
        locker.credentials.uri,
        "SELECT pg_get_userbyid(relowner) = current_user FROM pg_class WHERE relname = 'owned_by_binding'",
      ),
    ).toBe('t')
    psql(locker.credentials.uri, 'DROP TABLE owned_by_binding')
    expect((await t.osb.unbind(id, locker.bindingId, POSTGRES)).status).toBe(200)
  }, 60_000)

  it('a binding cannot lock the others out for longer than the next hook or start: CONNECTION LIMIT 0, settings that refuse every session', async () => {
    const [attacker, victim, second, owning] = [await bind(), await bind(), await bind(), await bind()]
    // What the last unbind has to clean up in the database: a table that binding owns itself.
    psql(owning.credentials.uri, 'SET ROLE NONE; CREATE TABLE left_by_binding (x int)')
    // The spare refills (bind hooks, which undo lock-outs too) are done before the attacks begin.
    await vi.waitFor(async () => expect(await spareNames()).toHaveLength(2), {timeout: 30_000, interval: 100})
    const database = attacker.credentials.database
    psql(attacker.credentials.uri, `ALTER DATABASE "${database}" CONNECTION LIMIT 0`)
    expect(psqlError(victim.credentials.uri, 'SELECT 1')).toMatch(/too many connections/)
    // The hooks still work (they run as the superuser in the maintenance database), and undo it.
    expect((await t.osb.unbind(id, attacker.bindingId, POSTGRES)).status).toBe(200)
    expect(psql(victim.credentials.uri, 'SELECT session_user')).toBe(victim.credentials.username)

    psql(
      second.credentials.uri,
      `ALTER DATABASE "${database}" SET local_preload_libraries = 'nosuch'; ALTER ROLE ALL IN DATABASE "${database}" SET idle_session_timeout = 1`,
    )
    expect(psqlError(victim.credentials.uri, 'SELECT 1')).toMatch(/could not access file/)
    // An unbind that has to clean up in the locked database still gets in.
    expect((await t.osb.unbind(id, owning.bindingId, POSTGRES)).status).toBe(200)
    expect(psql(victim.credentials.uri, 'SELECT count(*) FROM left_by_binding')).toBe('0')

    // And what is set between two hooks is gone at the next start.
    psql(victim.credentials.uri, `ALTER DATABASE "${database}" SET local_preload_libraries = 'nosuch'`)
    expect(psqlError(second.credentials.uri, 'SELECT 1')).toMatch(/could not access file/)
    await restartContainer()
    expect(await vi.waitFor(() => psql(second.credentials.uri, 'SELECT 1'), {timeout: 30_000, interval: 250})).toBe('1')
    psql(victim.credentials.uri, 'DROP TABLE left_by_binding')
    expect((await t.osb.unbind(id, second.bindingId, POSTGRES)).status).toBe(200)
    expect((await t.osb.unbind(id, victim.bindingId, POSTGRES)).status).toBe(200)
  }, 120_000)

  it('a role a crash left between the bind hook and its row is dropped when the broker recovers', async () => {
    const kept = await bind()
    // What a crash right after the hook leaves: a login in the service, no binding or spare in the store.
    execFileSync(
      'docker',
      ['exec', '-e', 'BIND_USERNAME=bstray0crash2', '-e', 'BIND_PASSWORD', await container(), '/dbroker/bind'],
      {stdio: 'pipe', env: {...process.env, BIND_PASSWORD: 'stray-password-2'}},
    )
    const stray = uriOf(kept.credentials, 'bstray0crash2', 'stray-password-2')
    expect(psql(stray, 'SELECT session_user')).toBe('bstray0crash2')
    await t.system.broker.provisioner.resume()
    await vi.waitFor(
      async () => expect(await asSuperuser("SELECT count(*) FROM pg_roles WHERE rolname = 'bstray0crash2'")).toBe('0'),
      {timeout: 30_000, interval: 200},
    )
    expect(psqlError(stray, 'SELECT 1')).toMatch(/password authentication failed/)
    // Bindings and spares stay: every role named like a binding user is one the store holds.
    const known = [
      ...(await t.system.store.listBindings(id)).map((b) => b.credentials.username),
      ...(await spareNames()),
    ]
    const left = (await asSuperuser("SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname ~ '^b[a-z0-9]{12}$'"))
      .split(',')
      .filter(Boolean)
    expect(left.filter((name) => !known.includes(name))).toEqual([])
    expect(psql(kept.credentials.uri, 'SELECT session_user')).toBe(kept.credentials.username)
    expect((await t.osb.unbind(id, kept.bindingId, POSTGRES)).status).toBe(200)
  }, 60_000)

  it("a binding reads no other session's query text, runs no program, reads no server file, installs no untrusted extension, makes no event trigger", async () => {
    const [attacker, other] = [await bind(), await bind()]
    const busy = openSession(other.credentials.uri)
    try {
      busy.send("SELECT pg_sleep(30) /* another binding's secret-text */;")
      await vi.waitFor(
        async () =>
          expect(
            await asSuperuser(
              "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%secret-text%' AND pid <> pg_backend_pid()",
            ),
          ).toBe('1'),
        {timeout: 10_000, interval: 100},
      )
      expect(
        psql(
          attacker.credentials.uri,
          `SELECT string_agg(coalesce(query, 'null'), ',') FROM pg_stat_activity WHERE usename = '${other.credentials.username}'`,
        ),
      ).toBe('<insufficient privilege>')
      // Nor can it end the other's session.
      expect(
        psqlError(
          attacker.credentials.uri,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${other.credentials.username}'`,
        ),
      ).toMatch(/permission denied|must be a member/)
    } finally {
      busy.child.kill()
    }
    const refused: Record<string, RegExp> = {
      "COPY (SELECT 1) TO PROGRAM 'id'": /pg_execute_server_program|must be superuser/,
      "COPY (SELECT 1) TO '/tmp/dbroker-copy'": /pg_write_server_files|must be superuser/,
      "SELECT lo_import('/proc/1/environ')": /permission denied|must be superuser/,
      "SELECT lo_export(lo_create(0), '/tmp/dbroker-lo')": /permission denied|must be superuser/,
      "SELECT pg_ls_dir('/')": /permission denied/,
      'CREATE EXTENSION dblink': /permission denied to create extension/,
      'CREATE EXTENSION postgres_fdw': /permission denied to create extension/,
      "CREATE FUNCTION f() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'; CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION f()":
        /permission denied|must be superuser/,
      "ALTER SYSTEM SET shared_preload_libraries = 'nosuch'": /permission denied|must be superuser/,
      'SET session_replication_role = replica': /permission denied/,
      "CREATE FUNCTION c() RETURNS int LANGUAGE c AS '/lib/x86_64-linux-gnu/libc.so.6', 'getpid'":
        /permission denied|must be superuser/,
      [`ALTER ROLE "${other.credentials.username}" SET search_path = evil`]: /permission denied/,
      'ALTER ROLE ALL SET search_path = evil': /permission denied|must be superuser/,
      'SET ROLE postgres': /permission denied/,
    }
    const outcomes = Object.fromEntries(
      Object.keys(refused).map((sql) => [sql, psqlError(attacker.credentials.uri, sql)]),
    )
    for (const [sql, pattern] of Object.entries(refused)) expect(outcomes[sql], sql).toMatch(pattern)
    expect((await t.osb.unbind(id, attacker.bindingId, POSTGRES)).status).toBe(200)
    expect((await t.osb.unbind(id, other.bindingId, POSTGRES)).status).toBe(200)
  }, 60_000)

  it("a role with superuser powers made behind dbroker's back is gone after a restart of the container", async () => {
    await asSuperuser('CREATE ROLE sneaky SUPERUSER LOGIN')
    await asSuperuser('CREATE ROLE sneaky_admin CREATEROLE LOGIN')
    expect((await powerfulRoles()).split(',')).toEqual(expect.arrayContaining(['postgres', 'sneaky', 'sneaky_admin']))

    await docker.getContainer(await container()).restart()
    await vi.waitFor(() => asSuperuser('SELECT 1'), {timeout: 60_000, interval: 250})

    expect(await powerfulRoles()).toBe('postgres')
    expect(await asSuperuser("SELECT count(*) FROM pg_roles WHERE rolname IN ('sneaky', 'sneaky_admin')")).toBe('0')
    // The instance keeps working for bindings.
    const {bindingId, credentials} = await vi.waitFor(() => bind(), {timeout: 60_000, interval: 500})
    expect(psql(credentials.uri, 'SELECT session_user')).toBe(credentials.username)
    expect((await t.osb.unbind(id, bindingId, POSTGRES)).status).toBe(200)
  })
})
