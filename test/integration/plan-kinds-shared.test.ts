import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {docker, labelled} from '../helpers/docker.js'
import {grantRowsOf, MARIADB, mariadb, mariadbError, mariadbRoot, type MariadbCredentials} from '../helpers/mariadb.js'
import {ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

const SHARED = {service_id: MARIADB.service_id, plan_id: '3b1f7c52-9f0e-4f7a-8a1c-5d2e6f0a9b41'}

describe('a shared mariadb plan: many instances in one container', () => {
  let t: TestSystem

  beforeAll(async () => {
    t = await startTestSystem({portRange: [43100, 43119]})
  })
  afterAll(async () => {
    await t?.close()
  })

  /** The shared containers this system runs on the engine. */
  const sharedContainers = async () =>
    (await labelled(undefined, t.system.installationId)).containers.filter((c) => c.Labels['dbroker.shared'])
  const startedAt = async (id: string) => (await docker.getContainer(id).inspect()).State.StartedAt
  const bindings = new Map<MariadbCredentials, string>()
  const bind = async (id: string) => {
    const bindingId = testId('b')
    const bound = await t.osb.bind(id, bindingId, SHARED)
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    const credentials = bound.body.credentials as MariadbCredentials
    bindings.set(credentials, bindingId)
    return credentials
  }
  const provision = async (id: string) => {
    const reply = await t.osb.provision(id, {...SHARED, ...ORG})
    expect(reply.status, JSON.stringify(reply.body)).toBe(201)
  }
  const deprovision = async (id: string) => {
    const reply = await t.osb.deprovision(id, SHARED)
    expect(reply.status, JSON.stringify(reply.body)).toBe(200)
  }

  it('two first provisions at once make one container, a third starts none, each binding is confined to its instance, and the last deprovision removes the container and its port', async () => {
    const [a, b, c] = [testId(), testId(), testId()]
    await Promise.all([provision(a), provision(b)])
    const [container] = await sharedContainers()
    expect(await sharedContainers()).toHaveLength(1)
    const started = await startedAt(container.Id)
    await provision(c)
    expect((await sharedContainers()).map((x) => x.Id)).toEqual([container.Id])
    expect(await startedAt(container.Id)).toBe(started)

    const ca = await bind(a)
    const cb = await bind(b)
    expect(ca.port).toBe(cb.port)
    expect(ca.database).not.toBe(cb.database)
    expect(ca.username).not.toBe(cb.username)
    mariadb(ca, 'CREATE TABLE secrets (v VARCHAR(40)); INSERT INTO secrets VALUES ("a-secret")')
    mariadb(cb, 'CREATE TABLE secrets (v VARCHAR(40)); INSERT INTO secrets VALUES ("b-secret")')

    // A's binding attacks B: list, read, change its data and its users.
    expect(mariadb(ca, 'SHOW DATABASES', null).split('\n').sort()).toEqual([ca.database, 'information_schema'].sort())
    expect(mariadbError(ca, 'SELECT 1', cb.database)).toMatch(/Access denied/)
    expect(mariadbError(ca, `SELECT * FROM \`${cb.database}\`.secrets`)).toMatch(/denied/)
    expect(mariadbError(ca, `INSERT INTO \`${cb.database}\`.secrets VALUES ("x")`)).toMatch(/denied/)
    expect(mariadbError(ca, `DROP DATABASE \`${cb.database}\``)).toMatch(/denied/)
    expect(mariadbError(ca, `GRANT ALL ON \`${cb.database}\`.* TO '${ca.username}'@'%'`)).toMatch(/denied/)
    expect(mariadbError(ca, `GRANT SELECT ON \`${ca.database}\`.* TO '${cb.username}'@'%'`)).toMatch(/denied/)
    expect(mariadbError(ca, `ALTER USER '${cb.username}'@'%' IDENTIFIED BY 'taken0ver'`)).toMatch(/denied/)
    expect(mariadbError(ca, `SET PASSWORD FOR '${cb.username}'@'%' = PASSWORD('taken0ver')`)).toMatch(/denied/)
    expect(mariadbError(ca, `DROP USER '${cb.username}'@'%'`)).toMatch(/denied/)
    expect(mariadbError(ca, 'SELECT User FROM mysql.user')).toMatch(/denied/)
    expect(mariadbError(ca, 'CREATE DATABASE grabbed')).toMatch(/denied/)
    // No other schema's tables (performance_schema's few public ones are the server's counters and this session's own).
    const visible = `SELECT table_schema FROM information_schema.tables WHERE table_schema NOT IN (DATABASE(), 'information_schema', 'performance_schema')`
    expect(mariadb(ca, visible)).toBe('')
    expect(mariadb(ca, 'SELECT DISTINCT user FROM information_schema.processlist')).toBe(ca.username)
    expect(mariadb(cb, 'SELECT v FROM secrets')).toBe('b-secret')

    // Unbinding and deprovisioning A leave B's data and users as they were, and nothing of A.
    const second = await bind(a)
    expect((await t.osb.unbind(a, bindings.get(ca)!, SHARED)).status).toBe(200)
    expect(mariadbError(ca, 'SELECT 1')).toMatch(/Access denied/)
    expect(mariadb(second, 'SELECT v FROM secrets')).toBe('a-secret')
    expect(mariadb(cb, 'SELECT v FROM secrets')).toBe('b-secret')
    await deprovision(a)
    expect(mariadbRoot(container.Id, 'SHOW DATABASES').split('\n')).not.toContain(ca.database)
    expect(grantRowsOf(container.Id, ca.username)).toBe('')
    expect(grantRowsOf(container.Id, second.username)).toBe('')
    expect(
      mariadbRoot(container.Id, `SELECT COUNT(*) FROM mysql.db WHERE Db LIKE '${ca.database.replace(/_/g, '\\_')}%'`),
    ).toBe('0')
    expect(mariadb(cb, 'SELECT v FROM secrets')).toBe('b-secret')
    expect(mariadbError(second, 'SELECT 1')).toMatch(/Access denied/)

    await deprovision(b)
    expect(await sharedContainers()).toHaveLength(1)
    await deprovision(c)
    expect(await sharedContainers()).toHaveLength(0)
    expect(await t.system.store.sharedContainers.list()).toEqual([])
    expect((await t.system.store.portsOf(`shared.mariadb-shared.local`)).length).toBe(0)
    expect(mariadbError(cb, 'SELECT 1')).toMatch(/Can't connect|Lost connection/)
  })

  it('a new provision racing the last deprovision gets a container that serves it, and nothing is left after', async () => {
    for (let round = 0; round < 3; round++) {
      const [x, y] = [testId(), testId()]
      await provision(x)
      await Promise.all([deprovision(x), provision(y)])
      const cy = await bind(y)
      expect(mariadb(cy, 'SELECT 1')).toBe('1')
      expect(await sharedContainers()).toHaveLength(1)
      await deprovision(y)
      expect(await sharedContainers()).toHaveLength(0)
      expect(await t.system.store.sharedContainers.list()).toEqual([])
    }
  })
})
