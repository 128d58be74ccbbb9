import {randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {redis} from '../helpers/clients.js'
import {docker, labelled} from '../helpers/docker.js'
import {OsbClient} from '../helpers/osb.js'
import {expectNothingLeft, ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

const SERVICE = '5f0c2a4e-7d1b-4c3e-9a10-000000000001'
const OK = {service_id: SERVICE, plan_id: '5f0c2a4e-7d1b-4c3e-9a10-000000000011'}
const BROKEN = {service_id: SERVICE, plan_id: '5f0c2a4e-7d1b-4c3e-9a10-000000000012'}
const MISSING = {service_id: SERVICE, plan_id: '5f0c2a4e-7d1b-4c3e-9a10-000000000013'}
const ASYNC_ONLY = {service_id: SERVICE, plan_id: '5f0c2a4e-7d1b-4c3e-9a10-000000000014'}
const NEEDS_APP = {service_id: SERVICE, plan_id: '5f0c2a4e-7d1b-4c3e-9a10-000000000015'}
const NEVER_READY = {service_id: SERVICE, plan_id: '5f0c2a4e-7d1b-4c3e-9a10-000000000016'}
// Nothing listens on port 1: a pull from this "registry" fails at once, without the network.
const missingImage = `127.0.0.1:1/dbroker-test-missing:${randomBytes(4).toString('hex')}`

/** A redis-based service with a plan that works, one whose server refuses to start, and one whose image is gone. */
const catalogYaml = `services:
  - id: ${SERVICE}
    name: brittle
    description: redis plans that fail on purpose
    bindable: true
    plan_updateable: true
    plans:
      - id: ${OK.plan_id}
        name: ok
        description: works
        maintenance_info: {version: 1.0.0}
        container: &ok
          image: dbroker/redis:7
          ports: [6379]
          volumes: [/data]
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          binding_credentials: per-binding
          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 30s}
      - id: ${BROKEN.plan_id}
        name: broken
        description: the server exits at once
        maintenance_info: {version: 1.0.0}
        container:
          <<: *ok
          command: [redis-server, /etc/redis/dbroker.conf, --no-such-option, "yes"]
          restart: "no"
      - id: ${MISSING.plan_id}
        name: missing
        description: an image that is not there and cannot be built or pulled
        container:
          <<: *ok
          image: ${missingImage}
      - id: ${ASYNC_ONLY.plan_id}
        name: async-only
        description: only with accepts_incomplete=true
        async_only: true
        container: *ok
      - id: ${NEEDS_APP.plan_id}
        name: needs-app
        description: bindings need an app
        requires_app: true
        container: *ok
      - id: ${NEVER_READY.plan_id}
        name: never-ready
        description: the server runs but never passes the readiness probe
        maintenance_info: {version: 1.0.0}
        container:
          <<: *ok
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^never$", timeout: 4s}
`

describe('when provisioning and updating fail', () => {
  let t: TestSystem
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    const catalogFile = path.join(dir, 'catalog.yml')
    writeFileSync(catalogFile, catalogYaml)
    // `up` makes sure every catalog image exists before it serves; the image goes away after that.
    await docker
      .getImage('dbroker/redis:7')
      .tag({repo: missingImage.slice(0, missingImage.lastIndexOf(':')), tag: missingImage.split(':').pop()})
    t = await startTestSystem({catalogFile, portRange: [46300, 46349]})
    await docker.getImage(missingImage).remove({noprune: true})
  })
  afterAll(async () => {
    await t?.close()
    await docker
      .getImage(missingImage)
      .remove({noprune: true})
      .catch(() => undefined)
    rmSync(dir, {recursive: true, force: true})
  })

  const nothingLeft = (id: string) => expectNothingLeft(t, id)

  it('an image that is gone and has no build context: the provision fails naming the image, and nothing remains', async () => {
    const id = testId()
    const sync = await t.osb.provision(id, {...MISSING, ...ORG})
    expect(sync.status).toBe(500)
    expect(sync.body.description).toContain(missingImage)
    await nothingLeft(id)

    const asyncId = testId()
    const started = await t.osb.provision(asyncId, {...MISSING, ...ORG}, true)
    expect(started.status).toBe(202)
    const last = await t.osb.waitFor(asyncId, started.body.operation)
    expect(last.body.state).toBe('failed')
    expect(last.body.description).toContain(missingImage)
    expect(last.body.instance_usable).toBeUndefined()
    await nothingLeft(asyncId)
    // Orphan mitigation: the platform's DELETE after the failure finds nothing to do.
    expect((await t.osb.deprovision(asyncId, MISSING)).status).toBe(410)
  })

  it('a server that exits before it is ready fails the provision with its last output; DELETE after it is 410 and leaves nothing', async () => {
    const id = testId()
    const started = await t.osb.provision(id, {...BROKEN, ...ORG}, true)
    expect(started.status).toBe(202)
    const last = await t.osb.waitFor(id, started.body.operation)
    expect(last.body.state).toBe('failed')
    expect(last.body.description).toMatch(/exited with code 1 before it was ready/)
    expect(last.body.description).not.toMatch(/REDIS_PASSWORD=\w/)
    const deleted = await t.osb.deprovision(id, BROKEN)
    expect([200, 410]).toContain(deleted.status)
    await nothingLeft(id)
    // The same id provisions cleanly afterwards.
    expect((await t.osb.provision(id, {...OK, ...ORG})).status).toBe(201)
    expect((await t.osb.deprovision(id, OK)).status).toBe(200)
    await nothingLeft(id)
  })

  it('a failed update changes nothing: same plan, same container port, credentials and data', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...OK, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(id, testId('b'), {...OK})
    const {uri, port} = bound.body.credentials
    expect(redis(uri, 'SET', 'before', 'update')).toBe('OK')

    const sync = await t.osb.update(id, {...BROKEN})
    expect(sync.status).toBe(500)
    expect(sync.body.description).toMatch(/the instance runs as before/)

    const started = await t.osb.update(id, {...BROKEN}, true)
    expect(started.status).toBe(202)
    const last = await t.osb.waitFor(id, started.body.operation)
    expect(last.body).toMatchObject({state: 'failed', instance_usable: true, update_repeatable: true})
    // A 2.13 platform does not know those two fields.
    const old = await new OsbClient(t.osb.url, t.osb.credentials, '2.13').lastOperation(id, {
      operation: started.body.operation,
    })
    expect(old.body.state).toBe('failed')
    expect(old.body.instance_usable).toBeUndefined()
    expect(old.body.update_repeatable).toBeUndefined()

    const fetched = await t.osb.request('GET', `/v2/service_instances/${id}`)
    expect(fetched.body.plan_id).toBe(OK.plan_id)
    const {containers} = await labelled(id)
    expect(containers).toHaveLength(1)
    expect(containers[0].State).toBe('running')
    expect(containers[0].Labels['dbroker.plan']).toBe('ok')
    expect(containers[0].Ports.find((p) => p.PrivatePort === 6379)?.PublicPort).toBe(port)
    expect(redis(uri, 'GET', 'before')).toBe('update')
    expect((await t.osb.deprovision(id, OK)).status).toBe(200)
    await nothingLeft(id)
  })
})

describe('starting with an image that cannot be had', () => {
  it('up refuses to serve, names the image and leaves no data dir behind', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    const testDirs = () =>
      readdirSync(tmpdir())
        .filter((name) => name.startsWith('dbroker-test-'))
        .sort()
    try {
      const catalogFile = path.join(dir, 'catalog.yml')
      writeFileSync(catalogFile, catalogYaml)
      const before = testDirs()
      const error = await startTestSystem({catalogFile, portRange: [46380, 46389]}).catch((e: unknown) => e as Error)
      expect(error).toBeInstanceOf(Error)
      expect((error as Error).message).toContain(`image ${missingImage} is not on the engine`)
      expect(testDirs()).toEqual(before)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('the named 422s', () => {
  let t: TestSystem
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    const catalogFile = path.join(dir, 'catalog.yml')
    writeFileSync(catalogFile, catalogYaml.replace(missingImage, 'dbroker/redis:7'))
    t = await startTestSystem({catalogFile, portRange: [46350, 46379]})
  })
  afterAll(async () => {
    await t?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('AsyncRequired: an async-only plan refuses a sync provision and deprovision, and takes the async ones', async () => {
    const id = testId()
    const sync = await t.osb.provision(id, {...ASYNC_ONLY, ...ORG})
    expect(sync.status).toBe(422)
    expect(sync.body.error).toBe('AsyncRequired')
    expect(await t.system.store.getInstance(id)).toBeUndefined()
    const started = await t.osb.provision(id, {...ASYNC_ONLY, ...ORG}, true)
    expect(started.status).toBe(202)
    expect((await t.osb.waitFor(id, started.body.operation)).body.state).toBe('succeeded')
    expect((await t.osb.deprovision(id, ASYNC_ONLY)).body.error).toBe('AsyncRequired')
    const gone = await t.osb.deprovision(id, ASYNC_ONLY, true)
    expect(gone.status).toBe(202)
    await t.osb.waitFor(id, gone.body.operation)
    expect((await labelled(id)).containers).toHaveLength(0)
  })

  it('RequiresApp: a binding of a plan that needs an app is refused without bind_resource.app_guid', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...NEEDS_APP, ...ORG})).status).toBe(201)
    const refused = await t.osb.bind(id, testId('b'), {...NEEDS_APP, bind_resource: {}})
    expect(refused.status).toBe(422)
    expect(refused.body.error).toBe('RequiresApp')
    expect((await t.osb.bind(id, testId('b'), {...NEEDS_APP, bind_resource: {app_guid: 'app-1'}})).status).toBe(201)
    expect((await t.osb.bind(id, testId('b'), {...NEEDS_APP, app_guid: 'app-2'})).status).toBe(201)
    expect((await t.osb.deprovision(id, NEEDS_APP)).status).toBe(200)
  })

  it('ConcurrencyError: while an update is in flight, GET, PATCH, DELETE and bind are 422 and change nothing', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...OK, ...ORG})).status).toBe(201)
    const started = await t.osb.update(id, {...NEVER_READY}, true)
    expect(started.status).toBe(202)
    const during = [
      await t.osb.request('GET', `/v2/service_instances/${id}`),
      await t.osb.update(id, {...OK, parameters: {}}, true),
      await t.osb.update(id, {...NEVER_READY}, true),
      await t.osb.deprovision(id, OK, true),
      await t.osb.bind(id, testId('b'), {...OK}),
    ]
    expect(during.map((r) => [r.status, r.body.error])).toEqual(during.map(() => [422, 'ConcurrencyError']))
    expect((await t.osb.lastOperation(id)).body.state).toBe('in progress')
    const last = await t.osb.waitFor(id, started.body.operation)
    expect(last.body).toMatchObject({state: 'failed', instance_usable: true})
    expect(last.body.description).toMatch(/did not become ready within 4 s/)
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).body.plan_id).toBe(OK.plan_id)
    expect((await t.osb.deprovision(id, OK)).status).toBe(200)
    expect((await labelled(id)).containers).toHaveLength(0)
  })
})

describe('when the port range is full', () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({portRange: [46399, 46399]})
  })
  afterAll(async () => {
    await t?.close()
  })

  it('the second provision on a one-port range is a clear 503 and allocates nothing', async () => {
    const first = testId()
    expect((await t.osb.provision(first, {...REDIS, ...ORG})).status).toBe(201)
    const second = testId()
    const refused = await t.osb.provision(second, {...REDIS, ...ORG})
    expect(refused.status).toBe(503)
    expect(refused.body.description).toMatch(/^no host can take this instance: /)
    expect(refused.body.description).toMatch(/host local.*46399-46399.*full|host local.*full.*46399-46399/)
    expect(await t.system.store.getInstance(second)).toBeUndefined()
    expect(await t.system.store.usedPortsByHost()).toEqual(new Map([['local', 1]]))
    expect((await labelled(second)).containers).toHaveLength(0)
    expect(await t.system.store.latestOperation(second)).toBeUndefined()
    // Deprovisioning the first frees the port for the next one.
    expect((await t.osb.deprovision(first, REDIS)).status).toBe(200)
    expect((await t.osb.provision(second, {...REDIS, ...ORG})).status).toBe(201)
    expect((await t.osb.deprovision(second, REDIS)).status).toBe(200)
  })
})
