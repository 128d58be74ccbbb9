import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {OsbClient} from '../helpers/osb.js'
import {ORG, POSTGRES, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

// The rules every OSB request follows (OSB.md "Every request"), against one broker and one redis instance.
describe('the OSB protocol rules', () => {
  let t: TestSystem
  let instance: string
  beforeAll(async () => {
    t = await startTestSystem({portRange: [46000, 46049]})
    instance = testId()
    expect((await t.osb.provision(instance, {...REDIS, ...ORG})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
  })

  const rowCount = async () => (await t.system.store.listInstances()).length

  describe('X-Broker-API-Version', () => {
    it('a request without the version header is refused with 412 and says which versions work', async () => {
      const response = await t.osb.request('GET', '/v2/catalog', {headers: {'x-broker-api-version': undefined}})
      expect(response.status).toBe(412)
      expect(response.body.description).toMatch(/X-Broker-API-Version header is required \(2\.13 to 2\.17\)/)
    })

    it('a platform speaking 2.12 is refused with 412 naming its version, even for a provision', async () => {
      const old = new OsbClient(t.osb.url, t.osb.credentials, '2.12')
      const response = await old.provision(testId(), {...REDIS, ...ORG})
      expect(response.status).toBe(412)
      expect(response.body.description).toMatch(/2\.12 is not supported/)
      expect(await rowCount()).toBe(1)
    })
  })

  describe('basic auth', () => {
    it('a wrong password is 401 with a challenge, and nothing is provisioned', async () => {
      const wrong = new OsbClient(t.osb.url, {username: t.osb.credentials.username, password: 'nope'})
      const response = await wrong.provision(testId(), {...REDIS, ...ORG})
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic /)
      expect(await rowCount()).toBe(1)
    })

    it('no credentials at all is 401, even for the catalog', async () => {
      expect((await t.osb.request('GET', '/v2/catalog', {headers: {authorization: undefined}})).status).toBe(401)
    })
  })

  describe('request and originating identity', () => {
    it('the request identity comes back on the response, on success and on error', async () => {
      const ok = await t.osb.request('GET', '/v2/catalog', {headers: {'x-broker-api-request-identity': 'req-123'}})
      expect(ok.headers.get('x-broker-api-request-identity')).toBe('req-123')
      const refused = await t.osb.request('GET', '/v2/catalog', {
        headers: {'x-broker-api-request-identity': 'req-456', authorization: undefined},
      })
      expect(refused.status).toBe(401)
      expect(refused.headers.get('x-broker-api-request-identity')).toBe('req-456')
    })

    it('the originating identity is decoded and recorded on the operation, and garbage never fails the request', async () => {
      const user = Buffer.from(JSON.stringify({user_id: 'alice'})).toString('base64')
      const id = testId()
      const response = await t.osb.request('PUT', `/v2/service_instances/${id}`, {
        body: {...REDIS, ...ORG},
        query: {accepts_incomplete: true},
        headers: {
          'x-broker-api-originating-identity': `cloudfoundry ${user}`,
          'x-broker-api-request-identity': 'req-prov',
        },
      })
      expect(response.status).toBe(202)
      const op = await t.system.store.getOperation(response.body.operation)
      expect(op).toMatchObject({originatingIdentity: 'cloudfoundry {"user_id":"alice"}', requestIdentity: 'req-prov'})
      expect((await t.osb.waitFor(id, response.body.operation)).body.state).toBe('succeeded')

      const garbage = await t.osb.request('DELETE', `/v2/service_instances/${id}`, {
        query: {...REDIS},
        headers: {'x-broker-api-originating-identity': 'cloudfoundry %%%'},
      })
      expect(garbage.status).toBe(200)
    })
  })

  describe('bodies', () => {
    const put = (id: string, rawBody: string, contentType = 'application/json') =>
      t.osb.request('PUT', `/v2/service_instances/${id}`, {rawBody, headers: {'content-type': contentType}})

    it('a body that is not JSON is a 400 with an OSB error body', async () => {
      const response = await put(testId(), '{"service_id": ')
      expect(response.status).toBe(400)
      expect(response.body).toEqual({description: 'the request body is not valid JSON'})
    })

    it('a body sent as another content type is a 400, not a 415', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        const response = await put(testId(), JSON.stringify({...REDIS, ...ORG}), type)
        expect(response.status, type).toBe(400)
        expect(response.body.description, type).toMatch(/must be JSON/)
      }
      expect(await rowCount()).toBe(1)
    })

    it('a missing required id is a 400 naming it; so is an id sent as ""', async () => {
      const {organization_guid: _o, ...noOrg} = {...REDIS, ...ORG}
      const missing = await t.osb.provision(testId(), noOrg)
      expect(missing.status).toBe(400)
      expect(missing.body.description).toMatch(/organization_guid/)
      const empty = await t.osb.provision(testId(), {...REDIS, ...ORG, space_guid: ''})
      expect(empty.status).toBe(400)
      expect(empty.body.description).toMatch(/space_guid: space_guid must not be empty/)
      const bind = await t.osb.bind(instance, testId('b'), {service_id: REDIS.service_id, plan_id: ''})
      expect(bind.status).toBe(400)
      // An empty id in the path is as bad as one in the body.
      const noInstanceId = await t.osb.provision('', {...REDIS, ...ORG})
      expect(noInstanceId.status).toBe(400)
      expect(noInstanceId.body.description).toMatch(/instance_id must not be empty/)
      const noBindingId = await t.osb.bind(instance, '', {...REDIS})
      expect(noBindingId.status).toBe(400)
      expect(noBindingId.body.description).toMatch(/binding_id must not be empty/)
      expect(await rowCount()).toBe(1)
    })

    it('an unknown plan, or a plan of another service, is a 400', async () => {
      const unknown = await t.osb.provision(testId(), {...REDIS, ...ORG, plan_id: 'no-such-plan'})
      expect(unknown.status).toBe(400)
      expect(unknown.body.description).toMatch(/no-such-plan is not in the catalog/)
      const mixed = await t.osb.provision(testId(), {...ORG, service_id: REDIS.service_id, plan_id: POSTGRES.plan_id})
      expect(mixed.status).toBe(400)
      expect(mixed.body.description).toMatch(/does not belong to service/)
      expect(await rowCount()).toBe(1)
    })

    it('unknown fields are ignored', async () => {
      const id = testId()
      expect(
        (await t.osb.provision(id, {...REDIS, ...ORG, colour: 'blue', context: {platform: 'cloudfoundry', x: 1}}))
          .status,
      ).toBe(201)
      expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    })

    it('parameters are checked against the plan schema: a 400 names the field and the allowed values', async () => {
      const wrongValue = await t.osb.provision(testId(), {
        ...REDIS,
        ...ORG,
        parameters: {maxmemory_policy: 'sometimes'},
      })
      expect(wrongValue.status).toBe(400)
      expect(wrongValue.body.description).toMatch(
        /\/maxmemory_policy must be equal to one of the allowed values: noeviction, allkeys-lru/,
      )
      const unknownField = await t.osb.provision(testId(), {...REDIS, ...ORG, parameters: {maxmemory: '1gb'}})
      expect(unknownField.status).toBe(400)
      expect(unknownField.body.description).toMatch(/must NOT have additional properties \(maxmemory\)/)
      const patch = await t.osb.update(instance, {service_id: REDIS.service_id, parameters: {maxmemory_policy: 42}})
      expect(patch.status).toBe(400)
      expect(patch.body.description).toMatch(/\/maxmemory_policy must be string/)
      expect(await rowCount()).toBe(1)
    })
  })

  describe('maintenance_info', () => {
    it('an empty maintenance_info object is as good as absent', async () => {
      const id = testId()
      expect((await t.osb.provision(id, {...REDIS, ...ORG, maintenance_info: {}})).status).toBe(201)
      expect((await t.osb.update(id, {service_id: REDIS.service_id, maintenance_info: {}})).status).toBe(200)
      expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    })

    it('a version other than the catalog’s is 422 MaintenanceInfoConflict, on provision and on update, and changes nothing', async () => {
      const provision = await t.osb.provision(testId(), {...REDIS, ...ORG, maintenance_info: {version: '0.9.0'}})
      expect(provision.status).toBe(422)
      expect(provision.body.error).toBe('MaintenanceInfoConflict')
      expect(provision.body.description).toMatch(/0\.9\.0 does not match the catalog's 1\.0\.0/)
      const update = await t.osb.update(instance, {service_id: REDIS.service_id, maintenance_info: {version: '2.0.0'}})
      expect(update.status).toBe(422)
      expect(update.body.error).toBe('MaintenanceInfoConflict')
      expect(await rowCount()).toBe(1)
      // The current version is welcome and is no change at all.
      expect(
        (await t.osb.update(instance, {service_id: REDIS.service_id, maintenance_info: {version: '1.0.0'}})).status,
      ).toBe(200)
    })
  })

  describe('the catalog', () => {
    it('carries an ETag; If-None-Match with it is a 304 with no body', async () => {
      const first = await t.osb.request('GET', '/v2/catalog')
      expect(first.status).toBe(200)
      const etag = first.headers.get('etag')!
      expect(etag).toMatch(/^".+"$/)
      const again = await fetch(new URL('/v2/catalog', t.osb.url), {
        headers: {authorization: t.osb.authorization, 'x-broker-api-version': '2.17', 'if-none-match': etag},
      })
      expect(again.status).toBe(304)
      expect(await again.text()).toBe('')
      expect((await t.osb.request('GET', '/v2/catalog', {headers: {'if-none-match': '"stale"'}})).status).toBe(200)
      // A proxy that compressed the body hands the tag back weakened, or in a list.
      const weak = await fetch(new URL('/v2/catalog', t.osb.url), {
        headers: {
          authorization: t.osb.authorization,
          'x-broker-api-version': '2.17',
          'if-none-match': `"stale", W/${etag}`,
        },
      })
      expect(weak.status).toBe(304)
    })
  })

  describe('answering in the platform’s dialect', () => {
    const v213 = () => new OsbClient(t.osb.url, t.osb.credentials, '2.13')
    const v214 = () => new OsbClient(t.osb.url, t.osb.credentials, '2.14')

    it('the catalog has plan maintenance_info for 2.14 and not for 2.13, each with its own ETag', async () => {
      const old = await v213().request('GET', '/v2/catalog')
      const current = await v214().request('GET', '/v2/catalog')
      expect(old.body.services[0].plans[0].maintenance_info).toBeUndefined()
      expect(current.body.services[0].plans[0].maintenance_info).toEqual({
        version: '1.0.0',
        description: 'Redis 7 on Debian bookworm',
      })
      expect(old.headers.get('etag')).not.toBe(current.headers.get('etag'))
    })

    it('a binding has endpoints from 2.15 on and metadata from 2.16 on', async () => {
      const bindingId = testId('b')
      const v214bind = await v214().bind(instance, bindingId, {...REDIS})
      expect(v214bind.status).toBe(201)
      expect(v214bind.body.endpoints).toBeUndefined()
      expect(v214bind.body.metadata).toBeUndefined()
      expect(v214bind.body.credentials.port).toBeGreaterThanOrEqual(46000)
      const v215 = await new OsbClient(t.osb.url, t.osb.credentials, '2.15').request(
        'GET',
        `/v2/service_instances/${instance}/service_bindings/${bindingId}`,
      )
      expect(v215.body.endpoints).toEqual([
        {host: '127.0.0.1', ports: [String(v214bind.body.credentials.port)], protocol: 'tcp'},
      ])
      expect(v215.body.metadata).toBeUndefined()
      const v217 = await t.osb.request('GET', `/v2/service_instances/${instance}/service_bindings/${bindingId}`)
      expect(v217.body.metadata).toBeDefined()
      expect((await t.osb.unbind(instance, bindingId, REDIS)).status).toBe(200)
    })

    it('GET instance has maintenance_info for 2.14 and not for 2.13', async () => {
      expect((await v213().request('GET', `/v2/service_instances/${instance}`)).body.maintenance_info).toBeUndefined()
      expect((await v214().request('GET', `/v2/service_instances/${instance}`)).body.maintenance_info).toEqual({
        version: '1.0.0',
      })
    })
  })
})
