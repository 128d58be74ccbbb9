import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {psql, psqlError, redis} from '../helpers/clients.js'
import {ORG, POSTGRES, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

describe('bindings through the broker', () => {
  let t: TestSystem
  let cache: string
  let db: string
  beforeAll(async () => {
    t = await startTestSystem({portRange: [43000, 43049]})
    cache = testId()
    db = testId()
    const [r, p] = await Promise.all([
      t.osb.provision(cache, {...REDIS, ...ORG}),
      t.osb.provision(db, {...POSTGRES, ...ORG}),
    ])
    expect([r.status, p.status]).toEqual([201, 201])
  })
  afterAll(async () => {
    await t?.close()
  })

  it('bind is 201 with host, port, username, password and uri; the same bind again is 200 with the same credentials; other parameters are 409', async () => {
    const bindingId = testId('b')
    const first = await t.osb.bind(cache, bindingId, {...REDIS, bind_resource: {app_guid: 'app-1'}})
    expect(first.status).toBe(201)
    const {credentials} = first.body
    expect(Object.keys(credentials).sort()).toEqual(['host', 'password', 'port', 'uri', 'username'])
    expect(credentials).toMatchObject({
      host: '127.0.0.1',
      uri: `redis://${credentials.username}:${credentials.password}@127.0.0.1:${credentials.port}`,
    })
    expect(credentials.password.length).toBeGreaterThanOrEqual(24)
    expect(redis(credentials.uri, 'PING')).toBe('PONG')

    const again = await t.osb.bind(cache, bindingId, {...REDIS, bind_resource: {app_guid: 'app-1'}})
    expect(again.status).toBe(200)
    expect(again.body.credentials).toEqual(credentials)
    expect((await t.osb.bind(cache, bindingId, {...REDIS, bind_resource: {app_guid: 'app-2'}})).status).toBe(409)
    expect((await t.osb.bind(cache, bindingId, {...REDIS, parameters: {x: 1}})).status).toBe(409)
    expect((await t.osb.unbind(cache, bindingId, REDIS)).status).toBe(200)
  })

  it('binding to an instance that does not exist is 404 and stores nothing', async () => {
    const bindingId = testId('b')
    expect((await t.osb.bind(testId(), bindingId, {...REDIS})).status).toBe(404)
    expect(await t.system.store.getBinding(bindingId)).toBeUndefined()
    // A redis binding on a postgresql instance is refused too.
    expect((await t.osb.bind(db, testId('b'), {...REDIS})).status).toBe(400)
  })

  it('each redis binding has its own user; unbinding one refuses only that one', async () => {
    const [a, b] = [testId('b'), testId('b')]
    const [ra, rb] = await Promise.all([t.osb.bind(cache, a, {...REDIS}), t.osb.bind(cache, b, {...REDIS})])
    expect([ra.status, rb.status]).toEqual([201, 201])
    expect(ra.body.credentials.username).not.toBe(rb.body.credentials.username)
    expect(ra.body.credentials.port).toBe(rb.body.credentials.port)
    expect(redis(ra.body.credentials.uri, 'SET', 'shared', 'from-a')).toBe('OK')
    expect(redis(rb.body.credentials.uri, 'GET', 'shared')).toBe('from-a')

    expect(await t.osb.unbind(cache, a, REDIS)).toMatchObject({status: 200, body: {}})
    expect(redis(ra.body.credentials.uri, 'PING')).toMatch(/WRONGPASS|NOAUTH|invalid username-password/)
    expect(redis(rb.body.credentials.uri, 'GET', 'shared')).toBe('from-a')
    expect((await t.osb.unbind(cache, a, REDIS)).status).toBe(410)
    expect((await t.osb.unbind(cache, b, REDIS)).status).toBe(200)
  })

  it('each postgresql binding has its own login to one shared database; unbinding one refuses only that one', async () => {
    const [a, b] = [testId('b'), testId('b')]
    const ra = await t.osb.bind(db, a, {...POSTGRES})
    const rb = await t.osb.bind(db, b, {...POSTGRES})
    expect([ra.status, rb.status]).toEqual([201, 201])
    const ca = ra.body.credentials
    const cb = rb.body.credentials
    expect(Object.keys(ca).sort()).toEqual(['database', 'host', 'password', 'port', 'uri', 'username'])
    expect(ca.uri).toBe(`postgresql://${ca.username}:${ca.password}@127.0.0.1:${ca.port}/${ca.database}`)
    expect(ca.username).not.toBe(cb.username)
    expect(ca.database).toBe(cb.database)
    expect(psql(ca.uri, 'SELECT session_user || current_database()')).toBe(ca.username + ca.database)
    expect(psql(cb.uri, 'SELECT session_user || current_database()')).toBe(cb.username + cb.database)
    // Bindings act as the instance's owner: what one application creates, another can use.
    psql(ca.uri, "CREATE TABLE visits (who text); INSERT INTO visits VALUES ('a')")
    psql(cb.uri, "INSERT INTO visits VALUES ('b')")
    expect(psql(ca.uri, "SELECT string_agg(who, ',' ORDER BY who) FROM visits")).toBe('a,b')
    // ...but no binding is a superuser.
    expect(psql(ca.uri, 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).toBe('f')
    expect(psqlError(cb.uri, "COPY (SELECT 1) TO PROGRAM 'id'")).toMatch(
      /permission denied|must be superuser|pg_execute_server_program/,
    )

    expect((await t.osb.unbind(db, a, POSTGRES)).status).toBe(200)
    expect(psqlError(ca.uri, 'SELECT 1')).toMatch(/password authentication failed|does not exist/)
    expect(psql(cb.uri, 'SELECT count(*) FROM visits')).toBe('2')
    expect((await t.osb.unbind(db, b, POSTGRES)).status).toBe(200)
  })

  it('GET binding and its last_operation; async bind is 202 without credentials; unbind is 200 then 410', async () => {
    const bindingId = testId('b')
    const started = await t.osb.bind(cache, bindingId, {...REDIS}, true)
    expect(started.status).toBe(202)
    expect(started.body.credentials).toBeUndefined()
    expect(started.body.operation).toMatch(/^bind-/)
    const done = await t.osb.waitFor(cache, started.body.operation, bindingId)
    expect(done.body.state).toBe('succeeded')

    const fetched = await t.osb.request('GET', `/v2/service_instances/${cache}/service_bindings/${bindingId}`)
    expect(fetched.status).toBe(200)
    expect(fetched.body.endpoints).toEqual([
      {host: '127.0.0.1', ports: [String(fetched.body.credentials.port)], protocol: 'tcp'},
    ])
    expect(fetched.body.parameters).toEqual({})
    expect(redis(fetched.body.credentials.uri, 'PING')).toBe('PONG')
    // A binding is found only under its own instance.
    expect((await t.osb.request('GET', `/v2/service_instances/${db}/service_bindings/${bindingId}`)).status).toBe(404)

    expect((await t.osb.unbind(cache, bindingId, {})).status).toBe(400)
    const unbound = await t.osb.unbind(cache, bindingId, REDIS, true)
    expect([200, 202]).toContain(unbound.status)
    if (unbound.status === 202) await t.osb.waitFor(cache, unbound.body.operation, bindingId)
    expect((await t.osb.request('GET', `/v2/service_instances/${cache}/service_bindings/${bindingId}`)).status).toBe(
      404,
    )
    expect((await t.osb.unbind(cache, bindingId, REDIS)).status).toBe(410)
    expect(redis(fetched.body.credentials.uri, 'PING')).toMatch(/WRONGPASS|NOAUTH|invalid username-password/)
  })

  it('the last_operation of a binding that never existed is 404', async () => {
    expect((await t.osb.lastOperation(cache, {}, testId('b'))).status).toBe(404)
  })

  it('deprovisioning an instance takes its bindings with it', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const bindingId = testId('b')
    expect((await t.osb.bind(id, bindingId, {...REDIS})).status).toBe(201)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    expect(await t.system.store.getBinding(bindingId)).toBeUndefined()
    expect((await t.osb.unbind(id, bindingId, REDIS)).status).toBe(410)
  })
})
