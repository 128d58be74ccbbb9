import {execFileSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {labelled} from '../helpers/docker.js'
import {ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

describe('redis through the broker', () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({portRange: [43200, 43219]})
  })
  afterAll(async () => {
    await t?.close()
  })

  it('provision redis, bind, PING with the credentials, unbind, deprovision, no container left', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const bindingId = testId('b')
    const bound = await t.osb.bind(id, bindingId, {...REDIS})
    expect(bound.status).toBe(201)
    const {uri} = bound.body.credentials
    expect(execFileSync('redis-cli', ['-u', uri, '--no-auth-warning', 'PING'], {encoding: 'utf8'}).trim()).toBe('PONG')
    expect((await t.osb.unbind(id, bindingId, REDIS)).status).toBe(200)
    // redis-cli exits 0 on a refused AUTH; what it prints tells.
    expect(
      execFileSync('redis-cli', ['-u', uri, '--no-auth-warning', 'PING'], {encoding: 'utf8', stdio: 'pipe'}),
    ).toMatch(/NOAUTH/)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    const left = await labelled(id)
    expect(left.containers).toHaveLength(0)
    expect(left.volumes).toHaveLength(0)
  })
})
