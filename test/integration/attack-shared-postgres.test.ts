import {execFileSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {labelled} from '../helpers/docker.js'
import {ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'
import {as, type PsqlBinding, session} from '../helpers/tenant-psql.js'
import {until} from '../helpers/until.js'

// Another build can stand in, e.g. the image before these fixes, to watch each attack work there.
const IMAGE = process.env.DBROKER_TEST_POSTGRES_IMAGE ?? 'dbroker/postgresql:15'
const SERVICE = '6c0e2f4a-1b3d-4e5f-9a7b-00000000b601'
const SHARED = {service_id: SERVICE, plan_id: '6c0e2f4a-1b3d-4e5f-9a7b-00000000b611'}
const SMALL_DISK = {service_id: SERVICE, plan_id: '6c0e2f4a-1b3d-4e5f-9a7b-00000000b612'}
/** Each binding's connection limit on the shared plan (the operator's choice, as in the reference catalog). */
const PER_BINDING = 3

/** Two shared plans of the reference image: 256 MB of memory; and one whose data lives on a 160 MB file system. */
const catalogYaml = `services:
  - id: ${SERVICE}
    name: postgresql-under-attack
    description: tenants of one postgresql container
    bindable: true
    plans:
      - id: ${SHARED.plan_id}
        name: shared
        description: a database per instance in one container
        kind: shared
        container: &pg
          image: ${IMAGE}
          ports: [5432]
          volumes: [/var/lib/postgresql/data]
          memory: 256m
          restart: unless-stopped
          env: {POSTGRES_BINDING_CONNECTION_LIMIT: "${PER_BINDING}"}
          credentials:
            database: true
            env: {username: POSTGRES_USER, password: POSTGRES_PASSWORD, database: POSTGRES_DB}
          binding_credentials: per-binding
          uri: postgresql://{username}:{password}@{host}:{port}/{database}
          readiness: {probe: exec, command: [pg_isready, -q, -h, 127.0.0.1, -p, "5432"], timeout: 120s}
      - id: ${SMALL_DISK.plan_id}
        name: small-disk
        description: the same with its data on a 160 MB file system
        kind: shared
        container:
          <<: *pg
          memory: 512m
          volumes: []
          security: {tmpfs: {/var/lib/postgresql/data: 160M}}
`

type Binding = PsqlBinding & {uri: string}

const REFUSED = /permission denied/

describe('postgresql: tenants of one shared container cannot take it down, hog it or watch each other', () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({catalog: catalogYaml, portRange: [43620, 43639]})
  })
  afterAll(async () => {
    await t?.close()
  })

  /** A new instance of `plan` and one binding of it, through the broker. */
  async function tenant(plan = SHARED): Promise<Binding & {instanceId: string}> {
    const instanceId = testId()
    expect((await t.osb.provision(instanceId, {...plan, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(instanceId, testId('b'), plan)
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    return {...(bound.body.credentials as Binding), instanceId}
  }
  const container = async (name: string) =>
    (await labelled(undefined, t.system.installationId)).containers.find((c) => c.Labels['dbroker.shared'] === name)!
  /** When the container last started, and whether the kernel killed something in it. */
  const startedAt = (id: string) =>
    execFileSync('docker', ['inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}} {{.State.OOMKilled}}', id], {
      encoding: 'utf8',
    }).trim()
  const superuser = (id: string, sql: string) =>
    execFileSync('docker', ['exec', '-u', 'postgres', id, 'psql', '-XAtq', '-d', 'postgres', '-c', sql], {
      encoding: 'utf8',
    }).trim()

  it("A's binding opens sessions past its limit: each is refused, B still connects, and A cannot lift the limit", async () => {
    const [a, b] = [await tenant(), await tenant()]
    const c = await container('postgresql-under-attack-shared')
    const sessions = Array.from({length: PER_BINDING}, () => session(a, 'SELECT pg_sleep(30)'))
    const ofA = () => superuser(c.Id, `SELECT count(*) FROM pg_stat_activity WHERE usename = '${a.username}'`)
    try {
      await until(`A's ${PER_BINDING} sessions`, () => ofA() === String(PER_BINDING))
      const more = [session(a, 'SELECT 1'), session(a, 'SELECT 1')]
      sessions.push(...more)
      for (const s of more)
        expect(await s.ended).toEqual({code: 2, stderr: expect.stringMatching(/too many connections for role/)})
      expect(ofA()).toBe(String(PER_BINDING))
      expect(await as(b, 'SELECT 1')).toBe('1')
    } finally {
      for (const s of sessions) s.child.kill()
    }
    await until("A's sessions to end", () => ofA() === '0')
    // Its limit is not A's to change, as its instance's role nor as the binding itself.
    expect(await as(a, `ALTER ROLE "${a.username}" CONNECTION LIMIT -1`)).toMatch(REFUSED)
    expect(await as(a, `RESET ROLE; ALTER ROLE "${a.username}" CONNECTION LIMIT -1`)).toMatch(REFUSED)
  })

  it("A's sessions each allocating what they can do not get the server killed: B's session goes on", async () => {
    const [a, b] = [await tenant(), await tenant()]
    const c = await container('postgresql-under-attack-shared')
    const before = startedAt(c.Id)
    const bSession = session(b, "SELECT 'b-session', pg_sleep(12)")
    const attack: ReturnType<typeof session>[] = []
    try {
      await until('B to run its query', () =>
        superuser(c.Id, `SELECT 1 FROM pg_stat_activity WHERE usename = '${b.username}' AND query LIKE '%b-session%'`),
      )
      // Each session holds a 60 MB value (and then a 12 MB one) while it sleeps: eight of them are far past 256 MB.
      for (const size of [60_000_000, 12_000_000])
        for (let i = 0; i < 8; i++) attack.push(session(a, `SELECT length(repeat('x', ${size})), pg_sleep(4)`))
      const outcomes = await Promise.all(attack.map((s) => s.ended))
      expect(await bSession.ended).toEqual({code: 0, stderr: ''})
      expect(startedAt(c.Id)).toBe(before)
      expect(outcomes.filter((o) => /too many connections for role/.test(o.stderr)).length).toBeGreaterThan(0)
      expect(await as(b, 'SELECT 1')).toBe('1')
    } finally {
      bSession.child.kill()
      for (const s of attack) s.child.kill()
    }
  }, 120_000)

  it("A's binding sees neither B's sessions, nor their users, databases, addresses, locks or counters", async () => {
    const [a, b] = [await tenant(), await tenant()]
    const c = await container('postgresql-under-attack-shared')
    const bSession = session(b, "BEGIN; LOCK TABLE pg_class IN ACCESS SHARE MODE; SELECT 'b-hidden', pg_sleep(30)")
    try {
      await until('B to run its query', () =>
        superuser(c.Id, `SELECT 1 FROM pg_stat_activity WHERE usename = '${b.username}' AND query LIKE '%b-hidden%'`),
      )
      const bPid = superuser(c.Id, `SELECT pid FROM pg_stat_activity WHERE usename = '${b.username}'`)
      const attempts = [
        'SELECT usename, datname, client_addr FROM pg_stat_activity',
        'SELECT * FROM pg_stat_get_activity(NULL)',
        `SELECT * FROM pg_stat_get_activity(${bPid})`,
        'SELECT pid FROM pg_stat_ssl',
        'SELECT pid FROM pg_stat_gssapi',
        'SELECT pid FROM pg_stat_replication',
        'SELECT * FROM pg_stat_progress_vacuum',
        'SELECT datname, numbackends FROM pg_stat_database',
        'SELECT * FROM pg_stat_database_conflicts',
        'SELECT pid, database FROM pg_locks',
        'SELECT * FROM pg_prepared_xacts',
        'SELECT pg_stat_get_backend_userid(s), pg_stat_get_backend_dbid(s) FROM pg_stat_get_backend_idset() s',
        `SELECT pg_stat_get_backend_client_addr(1), pg_stat_get_db_numbackends(oid) FROM pg_database`,
        `SELECT pg_blocking_pids(${bPid})`,
      ]
      const answers: Record<string, string> = {}
      for (const sql of attempts) answers[sql] = await as(a, sql)
      expect(answers).toEqual(Object.fromEntries(attempts.map((sql) => [sql, expect.stringMatching(REFUSED)])))
      // Nor can it give them back to itself.
      expect(await as(a, 'GRANT SELECT ON pg_catalog.pg_stat_activity TO PUBLIC')).toMatch(/permission denied|WARNING/)
      expect(await as(a, 'SELECT count(*) FROM pg_stat_activity')).toMatch(REFUSED)
      // Its own work is untouched.
      expect(await as(a, 'SELECT pg_backend_pid() > 0')).toBe('t')
    } finally {
      bSession.child.kill()
    }
  })

  it("A's sort that would fill the disk stops at its temporary files' limit; B still writes", async () => {
    const [a, b] = [await tenant(SMALL_DISK), await tenant(SMALL_DISK)]
    // 400 MB of sort input: more than the 160 MB file system holds.
    const sort = await as(
      a,
      "SELECT sum(length(pad)) FROM (SELECT g, repeat('x', 400) AS pad FROM generate_series(1, 1000000) g ORDER BY md5(g::text)) s",
    )
    expect(sort).toMatch(/temporary file size exceeds temp_file_limit/)
    expect(await as(b, "CREATE TABLE kept AS SELECT repeat('b', 1000) AS v FROM generate_series(1, 1000)")).toBe('')
    expect(await as(b, 'SELECT count(*) FROM kept')).toBe('1000')
  }, 120_000)
})
