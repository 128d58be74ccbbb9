import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LOCAL_HOST_ID} from '../../src/system/local.js'
import {OsbClient} from '../helpers/osb.js'
import {expectNothingLeft, ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

describe('an operator drains the local host of `dbroker up` through the admin API', () => {
  let t: TestSystem
  let admin: OsbClient
  const made: string[] = []

  beforeAll(async () => {
    t = await startTestSystem({portRange: [43050, 43069]})
    admin = new OsbClient(t.system.url, t.system.adminCredentials)
  })
  afterAll(async () => {
    for (const id of made) await t?.osb.deprovision(id, REDIS)
    await t?.close()
  })

  it('drain answers with the drained host, placement refuses it with a 503 naming it, undrain lets provisions in again', async () => {
    const drained = await admin.request('POST', `/admin/v1/hosts/${LOCAL_HOST_ID}/drain`)
    expect(drained.status).toBe(200)
    expect(drained.body).toEqual({id: LOCAL_HOST_ID, drained: true})
    const hosts = await admin.request<Array<{id: string; drained: boolean; status: string}>>('GET', '/admin/v1/hosts')
    expect(hosts.body.map((h) => [h.id, h.drained, h.status])).toEqual([[LOCAL_HOST_ID, true, 'alive']])

    const refused = testId()
    const response = await t.osb.provision(refused, {...REDIS, ...ORG})
    expect(response.status).toBe(503)
    expect(response.body.description).toMatch(new RegExp(`no host can take this instance: .*${LOCAL_HOST_ID}: drained`))
    await expectNothingLeft(t, refused)

    const undrained = await admin.request('POST', `/admin/v1/hosts/${LOCAL_HOST_ID}/undrain`)
    expect(undrained.status).toBe(200)
    expect(undrained.body).toEqual({id: LOCAL_HOST_ID, drained: false})
    const id = testId()
    made.push(id)
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    await expectNothingLeft(t, id)
  })

  it('drain needs the admin credentials (the OSB ones are refused) and names an unknown host', async () => {
    const osbAsAdmin = await t.osb.request('POST', `/admin/v1/hosts/${LOCAL_HOST_ID}/drain`)
    expect(osbAsAdmin.status).toBe(401)
    const unknown = await admin.request('POST', '/admin/v1/hosts/nowhere/drain')
    expect(unknown.status).toBe(404)
    expect(unknown.body.description).toMatch(/host nowhere is not registered/)
    expect((await t.system.store.getHost(LOCAL_HOST_ID))?.drained).toBe(false)
  })
})
