import {execFileSync} from 'node:child_process'

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
