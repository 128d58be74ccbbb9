import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {randomSecret} from '../../src/broker/credentials.js'
import {docker, labelled} from '../helpers/docker.js'
import {mariadb, mariadbError, mariadbRoot, type MariadbCredentials} from '../helpers/mariadb.js'
import {ORG, startTestSystem, testId, TEST_RUN, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const STATIC = {service_id: '6a0d3f1e-2b4c-4d5e-8f60-718293a4b5c6', plan_id: '6a0d3f1e-2b4c-4d5e-8f60-718293a4b5c7'}
const ADOPTED = {service_id: '7b1e4f2a-3c5d-4e6f-9071-8293a4b5c6d7', plan_id: '7b1e4f2a-3c5d-4e6f-9071-8293a4b5c6d8'}
const BROKEN = {service_id: ADOPTED.service_id, plan_id: '7b1e4f2a-3c5d-4e6f-9071-8293a4b5c6d9'}
const ADOPTED_PORT = 46955
const URI = 'mysql://{username}:{password}@{host}:{port}/{database}'

/** A catalog of a static plan and two plans on containers the test starts itself (one without a server). */
const catalog = (password: string, adopted: string, broken: string) => `
services:
  - id: ${STATIC.service_id}
    name: given-db
    description: A database the operator runs elsewhere
    bindable: true
    plans:
      - id: ${STATIC.plan_id}
        name: given
        description: Everyone gets the operator's credentials
        kind:
          static:
            credentials: {host: db.example.com, port: 3306, username: app, password: "${password}", database: app, uri: "mysql://app:${password}@db.example.com:3306/app"}
  - id: ${ADOPTED.service_id}
    name: adopted-db
    description: A MariaDB container the operator started
    bindable: true
    plans:
      - id: ${ADOPTED.plan_id}
        name: adopted
        description: A database of its own in the operator's container
        client: mariadb
        kind:
          existing: {host: local, container: ${adopted}, port: ${ADOPTED_PORT}, uri: "${URI}"}
      - id: ${BROKEN.plan_id}
        name: broken
        description: A container whose server does not run
        kind:
          existing: {host: local, container: ${broken}, port: ${ADOPTED_PORT + 1}, uri: "${URI}"}
`

describe('static and existing plans', () => {
  let t: TestSystem
  const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-kinds-'))
  const password = randomSecret(24)
  const adopted = `t-adopted-${TEST_RUN}`
  const broken = `t-broken-${TEST_RUN}`

  beforeAll(async () => {
    const env = ['MARIADB_USER=owner', `MARIADB_PASSWORD=${randomSecret(24)}`, 'MARIADB_DATABASE=owner']
    await docker
      .createContainer({
        name: adopted,
        Image: 'dbroker/mariadb:10.11',
        Env: env,
        HostConfig: {PortBindings: {'3306/tcp': [{HostIp: '127.0.0.1', HostPort: String(ADOPTED_PORT)}]}},
      })
      .then((c) => c.start())
    await docker
      .createContainer({name: broken, Image: 'dbroker/mariadb:10.11', Env: env, Cmd: ['sleep', 'infinity']})
      .then((c) => c.start())
    await until('the adopted server answers', () => mariadbRoot(adopted, 'SELECT 1') === '1', 120_000)
    writeFileSync(path.join(dir, 'catalog.yml'), catalog(password, adopted, broken))
    t = await startTestSystem({catalogFile: path.join(dir, 'catalog.yml'), portRange: [46950, 46954]})
  }, 180_000)
  afterAll(async () => {
    await t?.close()
    for (const name of [adopted, broken])
      await docker
        .getContainer(name)
        .remove({force: true, v: true})
        .catch(() => undefined)
    rmSync(dir, {recursive: true, force: true})
  })

  it('a static plan runs nothing, hands every binding the given credentials, and keeps them out of the catalog and the store files', async () => {
    const id = testId()
    const before = (await labelled(undefined, t.system.installationId)).containers.length
    expect((await t.osb.provision(id, {...STATIC, ...ORG})).status).toBe(201)
    expect((await labelled(undefined, t.system.installationId)).containers).toHaveLength(before)
    const bound = await t.osb.bind(id, testId('b'), STATIC)
    expect(bound.status).toBe(201)
    expect(bound.body.credentials).toEqual({
      host: 'db.example.com',
      port: 3306,
      username: 'app',
      password,
      database: 'app',
      uri: `mysql://app:${password}@db.example.com:3306/app`,
    })
    expect((await t.osb.bind(id, testId('b'), STATIC)).body.credentials.password).toBe(password)
    const served = await t.osb.request('GET', '/v2/catalog')
    expect(JSON.stringify(served.body)).not.toContain(password)
    expect(JSON.stringify(served.body)).not.toContain('kind')
    for (const file of readdirSync(t.dataDir, {recursive: true, withFileTypes: true}).filter((f) => f.isFile()))
      expect(readFileSync(path.join(file.parentPath, file.name)).toString('latin1'), file.name).not.toContain(password)
    expect((await t.osb.deprovision(id, STATIC)).status).toBe(200)
  })

  it('an existing container is adopted: a database per instance and a user per binding through its executables, and it runs on after the deprovision', async () => {
    const [a, b] = [testId(), testId()]
    expect((await t.osb.provision(a, {...ADOPTED, ...ORG})).status).toBe(201)
    expect((await t.osb.provision(b, {...ADOPTED, ...ORG})).status).toBe(201)
    const bindingId = testId('b')
    const bound = await t.osb.bind(a, bindingId, ADOPTED)
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    const ca = bound.body.credentials as MariadbCredentials
    expect(ca.port).toBe(ADOPTED_PORT)
    mariadb(ca, 'CREATE TABLE t (v INT); INSERT INTO t VALUES (7)')
    expect(mariadb(ca, 'SELECT v FROM t')).toBe('7')
    const cb = (await t.osb.bind(b, testId('b'), ADOPTED)).body.credentials as MariadbCredentials
    expect(mariadbError(cb, `SELECT v FROM \`${ca.database}\`.t`)).toMatch(/denied/)
    expect(mariadbError(cb, 'SELECT 1', 'owner')).toMatch(/Access denied/)

    expect((await t.osb.unbind(a, bindingId, ADOPTED)).status).toBe(200)
    expect(mariadbError(ca, 'SELECT 1')).toMatch(/Access denied/)
    expect((await t.osb.deprovision(a, ADOPTED)).status).toBe(200)
    expect((await t.osb.deprovision(b, ADOPTED)).status).toBe(200)
    expect(mariadbRoot(adopted, 'SHOW DATABASES').split('\n')).not.toContain(ca.database)
    expect(mariadbRoot(adopted, 'SHOW DATABASES').split('\n')).toContain('owner')
    expect((await docker.getContainer(adopted).inspect()).State.Running).toBe(true)
  })

  it('a failing executable is a failed operation carrying its stderr line, and leaves no instance', async () => {
    const id = testId()
    const reply = await t.osb.provision(id, {...BROKEN, ...ORG})
    expect(reply.status).toBe(500)
    expect(reply.body.description).toMatch(/\/dbroker\/provision exited with 1: dbroker-mariadb provision: .*failed/)
    expect(await t.system.store.getInstance(id)).toBeUndefined()
    expect((await docker.getContainer(broken).inspect()).State.Running).toBe(true)
  })
})
