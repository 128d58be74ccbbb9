import {execFileSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {labelled, loseContainerAndVolume} from '../helpers/docker.js'
import {redisAclUsers} from '../helpers/redis-admin.js'
import {ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const redis = (uri: string, ...args: string[]) =>
  execFileSync('redis-cli', ['-u', uri, '--no-auth-warning', ...args], {encoding: 'utf8', stdio: 'pipe'}).trim()

describe('spare users: per-binding credentials at store speed', () => {
  let t: TestSystem
  const id = testId()
  beforeAll(async () => {
    t = await startTestSystem({portRange: [43150, 43199]})
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
  })

  const spares = () => t.system.store.spareUsers(id)
  const twoSpares = () => until('two spare users', async () => ((await spares()).length === 2 ? spares() : undefined))

  it('a bind hands out a user made ahead, which works at once; the broker makes another', async () => {
    const ready = (await twoSpares()).map((u) => u.username)
    const bound = await t.osb.bind(id, testId('b'), REDIS)
    expect(bound.status).toBe(201)
    const {username, uri} = bound.body.credentials
    expect(ready).toContain(username)
    expect(redis(uri, 'SET', 'k', 'v')).toBe('OK')
    const refilled = (await twoSpares()).map((u) => u.username)
    expect(refilled).not.toContain(username)
  })

  it('unbinding a user that was a spare revokes it', async () => {
    const bindingId = testId('b')
    const {uri} = (await t.osb.bind(id, bindingId, REDIS)).body.credentials
    expect(redis(uri, 'PING')).toBe('PONG')
    expect((await t.osb.unbind(id, bindingId, REDIS)).status).toBe(200)
    expect(redis(uri, 'PING')).toMatch(/NOAUTH/)
  })

  it('spare users come back with a container whose volume was lost, so the next bind still works', async () => {
    await twoSpares()
    const before = (await labelled(id)).containers[0]
    // The converger may re-make the container before its volume goes: then both go again.
    await loseContainerAndVolume(id)
    await until('the container to come back', async () => {
      const c = (await labelled(id)).containers[0]
      return c && c.Id !== before.Id && c.State === 'running' ? c : undefined
    })
    // The replay runs right after convergence: wait until the new container knows the spares made before the loss.
    const kept = (await spares()).map((u) => u.username)
    await until('the spare users in the new container', async () => {
      const users = await redisAclUsers(id).catch((): string[] => [])
      return kept.every((u) => users.includes(u)) ? true : undefined
    })
    const bound = await t.osb.bind(id, testId('b'), REDIS)
    expect(bound.status).toBe(201)
    expect(redis(bound.body.credentials.uri, 'PING')).toBe('PONG')
  })

  it('deprovisioning takes the spare users with it', async () => {
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
    expect(await spares()).toEqual([])
  })
})
