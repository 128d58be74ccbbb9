import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {psql, redis} from '../helpers/clients.js'
import {docker, labelled} from '../helpers/docker.js'
import {
  expectNothingLeft,
  ORG,
  POSTGRES,
  POSTGRES_MEDIUM,
  REDIS,
  startTestSystem,
  testId,
  type TestSystem,
} from '../helpers/system.js'

describe('service instances through the broker', () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({portRange: [46100, 46149]})
  })
  afterAll(async () => {
    await t?.close()
  })

  const container = async (id: string) => {
    const {containers} = await labelled(id)
    expect(containers).toHaveLength(1)
    return docker.getContainer(containers[0].Id).inspect()
  }
  const nothingLeft = (id: string) => expectNothingLeft(t, id)

  it('provision is 201; the same PUT again is 200; the same id with other parameters is 409; GET shows it', async () => {
    const id = testId()
    const body = {...REDIS, ...ORG, parameters: {maxmemory_policy: 'allkeys-lru'}}
    expect((await t.osb.provision(id, body)).status).toBe(201)
    const again = await t.osb.provision(id, {...body, context: {platform: 'cloudfoundry'}})
    expect(again.status).toBe(200)
    const other = await t.osb.provision(id, {...body, parameters: {maxmemory_policy: 'noeviction'}})
    expect(other.status).toBe(409)
    expect((await t.osb.provision(id, {...body, space_guid: 'space-2'})).status).toBe(409)
    const fetched = await t.osb.request('GET', `/v2/service_instances/${id}`)
    expect(fetched.status).toBe(200)
    expect(fetched.body).toMatchObject({
      ...REDIS,
      parameters: {maxmemory_policy: 'allkeys-lru'},
      maintenance_info: {version: '1.0.0'},
    })
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    await nothingLeft(id)
  })

  it('GET of an instance that never existed is 404', async () => {
    expect((await t.osb.request('GET', `/v2/service_instances/${testId()}`)).status).toBe(404)
  })

  it('async provision: 202 with an operation, the same PUT while in flight gets the same operation, GET is 404 until it is ready', async () => {
    const id = testId()
    const body = {...POSTGRES, ...ORG}
    const first = await t.osb.provision(id, body, true)
    expect(first.status).toBe(202)
    expect(first.body.operation).toMatch(/^provision-/)
    expect(first.body.operation.length).toBeLessThanOrEqual(10_000)
    const repeated = await t.osb.provision(id, body, true)
    expect(repeated).toMatchObject({status: 202, body: {operation: first.body.operation}})
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).status).toBe(404)
    const polled = await t.osb.lastOperation(id, {operation: first.body.operation, ...POSTGRES})
    expect(polled.status).toBe(200)
    expect(['in progress', 'succeeded']).toContain(polled.body.state)
    if (polled.body.state === 'in progress') expect(polled.headers.get('retry-after')).toBeTruthy()
    const done = await t.osb.waitFor(id, first.body.operation)
    expect(done.body).toMatchObject({state: 'succeeded'})
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).status).toBe(200)
    // An operation the broker did not issue is a hint it ignores.
    expect((await t.osb.lastOperation(id, {operation: 'made-up'})).body.state).toBe('succeeded')

    // Async deprovision, then last_operation reports it while the broker remembers it.
    const gone = await t.osb.deprovision(id, POSTGRES, true)
    expect(gone.status).toBe(202)
    const after = await t.osb.waitFor(id, gone.body.operation)
    expect([200, 410]).toContain(after.status)
    if (after.status === 200) expect(after.body.state).toBe('succeeded')
    expect((await t.osb.deprovision(id, POSTGRES)).status).toBe(410)
    await nothingLeft(id)
  })

  it('PATCH with nothing to change is 200 {} and leaves the container alone', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const before = await container(id)
    expect(await t.osb.update(id, {service_id: REDIS.service_id})).toMatchObject({status: 200, body: {}})
    expect(await t.osb.update(id, {...REDIS, parameters: {}, previous_values: {}})).toMatchObject({
      status: 200,
      body: {},
    })
    expect((await container(id)).Id).toBe(before.Id)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
  })

  it('PATCH of redis parameters recreates the container on the same port, with the same credentials and the data', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(id, testId('b'), {...REDIS})
    const {uri, port} = bound.body.credentials
    expect(redis(uri, 'SET', 'greeting', 'hello')).toBe('OK')
    const before = await container(id)

    const patched = await t.osb.update(id, {
      service_id: REDIS.service_id,
      parameters: {maxmemory_policy: 'allkeys-lru'},
    })
    expect(patched).toMatchObject({status: 200, body: {}})

    const after = await container(id)
    expect(after.Id).not.toBe(before.Id)
    expect(after.Config.Env).toContain('REDIS_MAXMEMORY_POLICY=allkeys-lru')
    expect(after.HostConfig.PortBindings?.['6379/tcp']?.[0].HostPort).toBe(String(port))
    expect(redis(uri, 'GET', 'greeting')).toBe('hello')
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).body.parameters).toEqual({
      maxmemory_policy: 'allkeys-lru',
    })
    // The instance's own request now is the updated one: a provision with the old attributes conflicts.
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(409)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    await nothingLeft(id)
  })

  it('PATCH postgresql small -> medium keeps the database, the port and the binding', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...POSTGRES, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(id, testId('b'), {...POSTGRES})
    const {uri, port} = bound.body.credentials
    psql(uri, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept across plans')")

    const patched = await t.osb.update(id, {...POSTGRES_MEDIUM, previous_values: {plan_id: POSTGRES.plan_id}})
    expect(patched).toMatchObject({status: 200, body: {}})

    const after = await container(id)
    expect(after.HostConfig.Memory).toBe(1024 ** 3)
    expect(after.HostConfig.PortBindings?.['5432/tcp']?.[0].HostPort).toBe(String(port))
    expect(psql(uri, 'SELECT body FROM notes')).toBe('kept across plans')
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).body.plan_id).toBe(POSTGRES_MEDIUM.plan_id)

    expect((await t.osb.update(id, {...POSTGRES, plan_id: 'no-such-plan'})).status).toBe(400)
    expect((await t.osb.update(id, {...REDIS})).status).toBe(400)
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).body.plan_id).toBe(POSTGRES_MEDIUM.plan_id)
    expect((await t.osb.deprovision(id, POSTGRES_MEDIUM)).status).toBe(200)
    await nothingLeft(id)
  })

  it('DELETE needs service_id and plan_id (400), then is 200 {} and 410 after', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    expect((await t.osb.deprovision(id, {})).status).toBe(400)
    expect((await t.osb.deprovision(id, {service_id: REDIS.service_id})).status).toBe(400)
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).status).toBe(200)
    expect(await t.osb.deprovision(id, REDIS)).toMatchObject({status: 200, body: {}})
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(410)
    expect((await t.osb.request('GET', `/v2/service_instances/${id}`)).status).toBe(404)
    await nothingLeft(id)
  })

  it('DELETE while an async provision is in flight stops it and leaves nothing behind', async () => {
    const id = testId()
    const started = await t.osb.provision(id, {...POSTGRES, ...ORG}, true)
    expect(started.status).toBe(202)
    const deleted = await t.osb.deprovision(id, POSTGRES)
    expect(deleted).toMatchObject({status: 200, body: {}})
    await nothingLeft(id)
    const last = await t.osb.lastOperation(id, {operation: started.body.operation})
    if (last.status === 200) expect(last.body.state).not.toBe('in progress')
    else expect(last.status).toBe(410)
    expect((await t.osb.deprovision(id, POSTGRES)).status).toBe(410)
    // The id is free again.
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
  })
})
