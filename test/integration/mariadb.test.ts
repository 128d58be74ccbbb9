import {execFileSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {labelled} from '../helpers/docker.js'
import {
  grantRowsOf,
  lifecycle,
  MARIADB,
  mariadb,
  mariadbError,
  mariadbRoot,
  mariadbSession,
  type MariadbCredentials,
} from '../helpers/mariadb.js'
import {expectNothingLeft, ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

/**
 * What a binding can plant in its own database for a hook that would run as
 * root with that database as its default: SQL SECURITY INVOKER views named
 * like the catalogs the hooks read, over a function that copies every
 * account of the server into the tenant's own table.
 */
const trap = (database: string) => `
CREATE TABLE loot (who VARCHAR(200));
DELIMITER //
CREATE FUNCTION steal() RETURNS INT SQL SECURITY INVOKER MODIFIES SQL DATA
BEGIN
  INSERT INTO \`${database}\`.loot SELECT CONCAT(User, '@', Host) FROM mysql.global_priv;
  RETURN 1;
END //
DELIMITER ;
CREATE SQL SECURITY INVOKER VIEW PROCESSLIST AS SELECT steal() AS ID, IF(steal(), 'x', 'x') AS USER;
CREATE SQL SECURITY INVOKER VIEW SCHEMATA AS SELECT IF(steal(), 'x', 'x') AS SCHEMA_NAME;
CREATE SQL SECURITY INVOKER VIEW global_priv AS SELECT IF(steal(), 'x', 'x') AS User, IF(steal(), '%', '%') AS Host;
CREATE SQL SECURITY INVOKER VIEW db AS SELECT IF(steal(), 'x', 'x') AS User, IF(steal(), '%', '%') AS Host, IF(steal(), 'x', 'x') AS Db;
CREATE TABLE bait (x INT);
CREATE TRIGGER bait_trap BEFORE INSERT ON bait FOR EACH ROW SET NEW.x = steal();
`

describe('mariadb through the broker', () => {
  let t: TestSystem
  const victim = testId()
  const other = testId()

  beforeAll(async () => {
    t = await startTestSystem({portRange: [46900, 46929]})
    expect((await t.osb.provision(victim, {...MARIADB, ...ORG})).status).toBe(201)
    expect((await t.osb.provision(other, {...MARIADB, ...ORG})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
  })

  const containerOf = async (id: string) => (await labelled(id)).containers[0].Id
  const bind = async (id: string, bindingId = testId('b')) => {
    const bound = await t.osb.bind(id, bindingId, MARIADB)
    expect(bound.status).toBe(201)
    return {bindingId, credentials: bound.body.credentials as MariadbCredentials}
  }
  const accounts = async (id: string) =>
    mariadbRoot(await containerOf(id), "SELECT CONCAT(User, '@', Host) FROM mysql.global_priv ORDER BY 1")

  it('provision, bind, create and read a table, a second binding reads it, unbind ends the session and the login, deprovision leaves nothing', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...MARIADB, ...ORG})).status).toBe(201)
    const a = await bind(id)
    expect(a.credentials.uri).toBe(
      `mysql://${a.credentials.username}:${a.credentials.password}@127.0.0.1:${a.credentials.port}/${a.credentials.database}`,
    )
    mariadb(a.credentials, "CREATE TABLE notes (who VARCHAR(10)); INSERT INTO notes VALUES ('a')")
    expect(mariadb(a.credentials, 'SELECT who FROM notes')).toBe('a')
    const b = await bind(id)
    mariadb(b.credentials, "INSERT INTO notes VALUES ('b')")
    expect(mariadb(b.credentials, 'SELECT GROUP_CONCAT(who ORDER BY who) FROM notes')).toBe('a,b')

    // A session that is busy when its binding goes away is ended, not left running.
    const session = mariadbSession(a.credentials, 'SELECT SLEEP(120)')
    const container = await containerOf(id)
    await vi.waitFor(
      () =>
        expect(
          mariadbRoot(
            container,
            `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '${a.credentials.username}'`,
          ),
        ).toBe('1'),
      {timeout: 10_000, interval: 100},
    )
    expect((await t.osb.unbind(id, a.bindingId, MARIADB)).status).toBe(200)
    const ended = await Promise.race([
      session.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000)),
    ])
    session.child.kill()
    expect(ended).toMatchObject({
      stderr: expect.stringMatching(/Lost connection|server has gone away|Connection was killed/),
    })
    expect(mariadbError(a.credentials, 'SELECT 1')).toMatch(/Access denied/)
    expect(grantRowsOf(container, a.credentials.username)).toBe('')
    // What it made stays for the others.
    expect(mariadb(b.credentials, 'SELECT COUNT(*) FROM notes')).toBe('2')

    expect((await t.osb.unbind(id, b.bindingId, MARIADB)).status).toBe(200)
    expect(grantRowsOf(container, b.credentials.username)).toBe('')
    expect((await t.osb.deprovision(id, MARIADB)).status).toBe(200)
    await expectNothingLeft(t, id)
  })

  it('a binding cannot grant, create users, read mysql.*, touch server files, set globals or shut the server down', async () => {
    const {credentials: c} = await bind(victim)
    const instance = (await t.system.store.getInstance(victim))!
    mariadb(c, 'CREATE TABLE t (line TEXT)')
    const refused: Record<string, RegExp> = {
      [`GRANT SELECT ON \`${c.database}\`.* TO '${instance.credentials.username}'@'%'`]: /denied/,
      [`GRANT ALL ON *.* TO '${c.username}'@'%'`]: /denied/,
      "CREATE USER intruder IDENTIFIED BY 'x'": /denied/,
      [`ALTER USER '${instance.credentials.username}'@'%' IDENTIFIED BY 'taken'`]: /denied/,
      'SELECT * FROM mysql.user': /denied/,
      'SELECT * FROM mysql.global_priv': /denied/,
      "LOAD DATA INFILE '/etc/passwd' INTO TABLE t": /denied/,
      "SELECT 'x' INTO OUTFILE '/tmp/dbroker-outfile'": /denied/,
      'SET GLOBAL max_connections = 1': /denied|SUPER/,
      'SET GLOBAL init_connect = "DROP DATABASE x"': /denied|SUPER/,
      SHUTDOWN: /denied/,
      'FLUSH PRIVILEGES': /denied/,
      'CREATE DATABASE another': /denied/,
      'CREATE DEFINER = root@localhost VIEW v AS SELECT 1': /denied|SUPER|SET USER/,
      "INSTALL SONAME 'ha_blackhole'": /denied/,
    }
    const outcomes = Object.fromEntries(Object.keys(refused).map((sql) => [sql, mariadbError(c, sql)]))
    for (const [sql, pattern] of Object.entries(refused)) expect(outcomes[sql], sql).toMatch(pattern)
    // Server files read as NULL; the processlist shows only its own sessions.
    expect(mariadb(c, "SELECT LOAD_FILE('/proc/1/environ') IS NULL")).toBe('1')
    expect(
      mariadb(
        c,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1)",
      ),
    ).toBe('0')
    const grants = mariadb(c, 'SHOW GRANTS')
    expect(grants).not.toMatch(/GRANT OPTION|SUPER|FILE|PROCESS|CREATE USER|SHUTDOWN|RELOAD/)
    expect(grants.split('\n')).toHaveLength(2)
    expect(mariadb(c, 'SHOW DATABASES')).toBe(`${c.database}\ninformation_schema`)
    // The instance login still works with the password the broker holds.
    expect(
      mariadb(
        {...c, username: instance.credentials.username, password: instance.credentials.password},
        'SELECT COUNT(*) FROM t',
      ),
    ).toBe('0')
  })

  it("a binding reads neither another instance's database nor, in a shared container, a database whose name its grant's _ would match", async () => {
    const {credentials: mine} = await bind(victim)
    const {credentials: theirs} = await bind(other)
    mariadb(theirs, "CREATE TABLE secret (s TEXT); INSERT INTO secret VALUES ('theirs')")
    expect(mariadbError({...mine, port: theirs.port}, 'SELECT 1', null)).toMatch(/Access denied/)
    expect(mariadbError(mine, `SELECT * FROM \`${theirs.database}\`.secret`)).toMatch(/denied/)

    // Two instances' databases in one container (a shared plan): a_b and aXb.
    const container = await containerOf(victim)
    expect(JSON.parse(lifecycle(container, ['/dbroker/provision'], {instance_id: 'x', database: 'shared_1'}))).toEqual({
      database: 'shared_1',
    })
    expect(JSON.parse(lifecycle(container, ['/dbroker/provision'], {instance_id: 'y', database: 'sharedX1'}))).toEqual({
      database: 'sharedX1',
    })
    // bind --json prints the port inside the container; the host port is the broker's.
    const bindJson = (database: string): MariadbCredentials => {
      const printed = JSON.parse(lifecycle(container, ['/dbroker/bind', '--json'], {binding_id: testId('j'), database}))
      expect(printed).toMatchObject({database, port: 3306, username: expect.stringMatching(/^b[0-9a-f]{12}$/)})
      return {...mine, username: printed.username, password: printed.password, database: printed.database}
    }
    const one = bindJson('shared_1')
    const x1 = bindJson('sharedX1')
    mariadb(x1, "CREATE TABLE secret (s TEXT); INSERT INTO secret VALUES ('x1')")
    mariadb(one, 'CREATE TABLE mine (n INT)')
    expect(mariadbError(one, 'SELECT * FROM sharedX1.secret')).toMatch(/denied/)
    expect(mariadbError(one, 'CREATE TABLE sharedX1.planted (n INT)')).toMatch(/denied/)

    // Deprovision drops the database and its bindings' users, and only those.
    lifecycle(container, ['/dbroker/deprovision'], {database: 'shared_1'})
    expect(mariadbError(one, 'SELECT 1', null)).toMatch(/Access denied/)
    expect(grantRowsOf(container, one.username)).toBe('')
    expect(mariadb(x1, 'SELECT s FROM secret')).toBe('x1')
    lifecycle(container, ['/dbroker/deprovision'], {database: 'sharedX1'})
    expect(grantRowsOf(container, x1.username)).toBe('')
    expect(
      mariadbRoot(container, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'shared%'"),
    ).toBe('0')
  })

  it('views, a function and a trigger planted for root run neither in bind (spare refill) nor in unbind', async () => {
    const attacker = await bind(victim)
    const c = attacker.credentials
    mariadb(c, trap(c.database))
    // The trap is live: whoever calls it copies what they can see of mysql.global_priv.
    expect(mariadbError(c, 'SELECT * FROM PROCESSLIST')).toMatch(/denied|lack rights/)
    const container = await containerOf(victim)
    mariadbRoot(container, `SELECT ID FROM \`${c.database}\`.PROCESSLIST`)
    expect(Number(mariadbRoot(container, `SELECT COUNT(*) FROM \`${c.database}\`.loot`))).toBeGreaterThan(0)
    mariadbRoot(container, `DELETE FROM \`${c.database}\`.loot`)
    const before = await accounts(victim)

    // Binds (each claims a spare; the broker refills with /dbroker/bind) and the attacker's unbind.
    const watcher = await bind(victim)
    await bind(victim)
    await vi.waitFor(async () => expect(await t.system.store.spareUsers(victim)).toHaveLength(2), {
      timeout: 30_000,
      interval: 100,
    })
    expect((await t.osb.unbind(victim, attacker.bindingId, MARIADB)).status).toBe(200)

    expect(mariadb(watcher.credentials, 'SELECT COUNT(*) FROM loot')).toBe('0')
    const after = (await accounts(victim)).split('\n')
    expect(after).not.toContain(`${c.username}@%`)
    expect(after.filter((a) => !before.split('\n').includes(a)).every((a) => /^b[a-z0-9]{12}@%$/.test(a))).toBe(true)
    expect(
      mariadbRoot(
        container,
        "SELECT CONCAT(User, '@', Host) FROM mysql.global_priv WHERE JSON_VALUE(Priv, '$.access') <> '0' ORDER BY 1",
      ),
    ).toBe('root@localhost')
  })
})

describe('mariadb bindings against each other', () => {
  let t: TestSystem
  const id = testId()

  beforeAll(async () => {
    t = await startTestSystem({portRange: [46935, 46944]})
    expect((await t.osb.provision(id, {...MARIADB, ...ORG})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
  })

  const bind = async () => {
    const bindingId = testId('b')
    const bound = await t.osb.bind(id, bindingId, MARIADB)
    expect(bound.status).toBe(201)
    return {bindingId, credentials: bound.body.credentials as MariadbCredentials}
  }

  it("a binding changes no other user's password or limits and grants nothing; another's lock stalls no unbind", async () => {
    const [attacker, neighbour] = [await bind(), await bind()]
    const [a, n] = [attacker.credentials, neighbour.credentials]
    mariadb(a, 'CREATE TABLE t (line TEXT)')
    const refused: Record<string, RegExp> = {
      [`ALTER USER '${n.username}'@'%' WITH MAX_USER_CONNECTIONS 0`]: /denied/,
      [`ALTER USER '${n.username}'@'%' ACCOUNT LOCK`]: /denied/,
      'ALTER USER CURRENT_USER() WITH MAX_USER_CONNECTIONS 0': /denied/,
      [`GRANT SELECT ON \`${a.database}\`.* TO '${n.username}'@'%' WITH MAX_USER_CONNECTIONS 1`]: /denied/,
      [`GRANT USAGE ON *.* TO '${a.username}'@'%' WITH MAX_QUERIES_PER_HOUR 1`]: /denied/,
      [`SET PASSWORD FOR '${n.username}'@'%' = PASSWORD('taken-over-1')`]: /denied/,
      [`GRANT PROXY ON '${n.username}'@'%' TO '${a.username}'@'%'`]: /denied/,
      'CREATE ROLE helper': /denied/,
      [`SHOW GRANTS FOR '${n.username}'@'%'`]: /denied/,
      [`CREATE DEFINER = '${n.username}'@'%' PROCEDURE p() SELECT 1`]: /denied|SUPER|SET USER/,
      "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t": /local infile|not allowed/,
      "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST '127.0.0.1')": /denied/,
      'SET GLOBAL max_user_connections = 1': /denied|SUPER/,
      'SET SESSION sql_log_off = 1': /denied|SUPER/,
      'SHOW ENGINE INNODB STATUS': /denied|PROCESS/,
    }
    const outcomes = Object.fromEntries(Object.keys(refused).map((sql) => [sql, mariadbError(a, sql)]))
    for (const [sql, pattern] of Object.entries(refused)) expect(outcomes[sql], sql).toMatch(pattern)
    expect(mariadb(n, 'SELECT 1')).toBe('1')

    // The neighbour holds a write lock on what the attacker made, in a session that stays open.
    const held = mariadbSession(n, 'LOCK TABLES t WRITE; SELECT SLEEP(60)')
    const container = (await labelled(id)).containers[0].Id
    try {
      await vi.waitFor(
        () =>
          expect(
            mariadbRoot(
              container,
              `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '${n.username}' AND STATE = 'User sleep'`,
            ),
          ).toBe('1'),
        {timeout: 10_000, interval: 100},
      )
      expect((await t.osb.unbind(id, attacker.bindingId, MARIADB)).status).toBe(200)
      expect(mariadbError(a, 'SELECT 1')).toMatch(/Access denied/)
      expect(grantRowsOf(container, a.username)).toBe('')
    } finally {
      held.child.kill()
    }
    expect((await t.osb.unbind(id, neighbour.bindingId, MARIADB)).status).toBe(200)
  }, 60_000)

  it('a user a crash left between the bind hook and its row is dropped when the broker recovers', async () => {
    const kept = await bind()
    const container = (await labelled(id)).containers[0].Id
    // What a crash right after the hook leaves: a login in the service, no binding or spare in the store.
    execFileSync(
      'docker',
      ['exec', '-e', 'BIND_USERNAME=bstray0crash3', '-e', 'BIND_PASSWORD', container, '/dbroker/bind'],
      {stdio: 'pipe', env: {...process.env, BIND_PASSWORD: 'stray-password-3'}},
    )
    const stray = {...kept.credentials, username: 'bstray0crash3', password: 'stray-password-3'}
    expect(mariadb(stray, 'SELECT 1')).toBe('1')
    await t.system.broker.provisioner.resume()
    await vi.waitFor(() => expect(grantRowsOf(container, 'bstray0crash3')).toBe(''), {timeout: 30_000, interval: 200})
    expect(mariadbError(stray, 'SELECT 1')).toMatch(/Access denied/)
    const known = [
      ...(await t.system.store.listBindings(id)).map((b) => b.credentials.username),
      ...(await t.system.store.spareUsers(id)).map((u) => u.username),
    ]
    const left = mariadbRoot(container, "SELECT User FROM mysql.global_priv WHERE User REGEXP '^b[a-z0-9]{12}$'")
      .split('\n')
      .filter(Boolean)
    expect(left.filter((name) => !known.includes(name))).toEqual([])
    expect(mariadb(kept.credentials, 'SELECT 1')).toBe('1')
    expect((await t.osb.unbind(id, kept.bindingId, MARIADB)).status).toBe(200)
  }, 60_000)
})

describe('the mariadb image under the hardened defaults', () => {
  const name = testId('c')
  const volume = `${name}-data`
  const port = 46930
  const hardened = [
    '--read-only',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/tmp',
    '--cap-drop',
    'ALL',
    ...['CHOWN', 'SETUID', 'SETGID', 'DAC_OVERRIDE'].flatMap((c) => ['--cap-add', c]),
    '--security-opt',
    'no-new-privileges',
  ]
  const dockerCli = (...args: string[]) =>
    execFileSync('docker', args, {encoding: 'utf8', stdio: 'pipe', timeout: 60_000}).trim()
  /** Starts the container on the volume; the admin password comes in the env of `docker run`, not its argv. */
  const start = (password: string) => {
    execFileSync(
      'docker',
      [
        'run',
        '-d',
        '--name',
        name,
        ...hardened,
        '-v',
        `${volume}:/var/lib/mysql`,
        '-p',
        `127.0.0.1:${port}:3306`,
        '-e',
        'MARIADB_USER=app',
        '-e',
        'MARIADB_PASSWORD',
        '-e',
        'MARIADB_DATABASE=app_data',
        'dbroker/mariadb:10.11',
      ],
      {stdio: 'pipe', env: {...process.env, MARIADB_PASSWORD: password}},
    )
  }
  const healthy = () =>
    vi.waitFor(() => dockerCli('exec', name, '/dbroker/healthcheck'), {timeout: 60_000, interval: 200})
  const login = (username: string, password: string): MariadbCredentials => ({
    uri: '',
    host: '127.0.0.1',
    port,
    username,
    password,
    database: 'app_data',
  })

  afterAll(() => {
    execFileSync('docker', ['rm', '-f', '-v', name], {stdio: 'ignore'})
    execFileSync('docker', ['volume', 'rm', '-f', volume], {stdio: 'ignore'})
  })

  it('starts read-only with four capabilities, runs mariadbd as mysql, binds and unbinds; a new container on the volume keeps the binding and rotates the admin password', async () => {
    start('first-password')
    await healthy()
    // PID 1 is the server, as the container's mysql user (the host may name that uid otherwise).
    const uid = (status: string) => /^Uid:\s+(\d+)/m.exec(status)?.[1]
    expect(dockerCli('exec', name, 'cat', '/proc/1/comm')).toBe('mariadbd')
    expect(uid(dockerCli('exec', name, 'cat', '/proc/1/status'))).toBe(dockerCli('exec', name, 'id', '-u', 'mysql'))
    execFileSync('docker', ['exec', '-e', 'BIND_USERNAME=bkeep', '-e', 'BIND_PASSWORD', name, '/dbroker/bind'], {
      stdio: 'pipe',
      env: {...process.env, BIND_PASSWORD: 'keep-me-1234'},
    })
    mariadb(login('bkeep', 'keep-me-1234'), 'CREATE TABLE kept (n INT); INSERT INTO kept VALUES (7)')
    expect(mariadb(login('app', 'first-password'), 'SELECT n FROM kept')).toBe('7')

    dockerCli('rm', '-f', name)
    start('second-password')
    await healthy()
    expect(mariadb(login('bkeep', 'keep-me-1234'), 'SELECT n FROM kept')).toBe('7')
    expect(mariadbError(login('app', 'first-password'), 'SELECT 1')).toMatch(/Access denied/)
    expect(mariadb(login('app', 'second-password'), 'SELECT COUNT(*) FROM kept')).toBe('1')
    dockerCli('exec', '-e', 'BIND_USERNAME=bkeep', name, '/dbroker/unbind')
    dockerCli('exec', '-e', 'BIND_USERNAME=bkeep', name, '/dbroker/unbind')
    expect(mariadbError(login('bkeep', 'keep-me-1234'), 'SELECT 1')).toMatch(/Access denied/)
    expect(grantRowsOf(name, 'bkeep')).toBe('')
    // Reserved and malformed names are refused with a reason.
    for (const bad of ['root', 'app', "x'y"]) {
      expect(() =>
        dockerCli('exec', '-e', `BIND_USERNAME=${bad}`, '-e', 'BIND_PASSWORD=whatever123', name, '/dbroker/bind'),
      ).toThrow(/reserved|must match/)
    }
  })

  it('refuses to start without its credentials, naming what is missing', () => {
    const run = () => dockerCli('run', '--rm', ...hardened, '-e', 'MARIADB_USER=app', 'dbroker/mariadb:10.11')
    expect(run).toThrow(/required environment variable\(s\) not set: MARIADB_PASSWORD MARIADB_DATABASE/)
  })
})
