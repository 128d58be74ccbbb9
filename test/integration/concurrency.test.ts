import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {redis} from '../helpers/clients.js'
import {labelled} from '../helpers/docker.js'
import {redisAclUsers} from '../helpers/redis-admin.js'
import {ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

describe('many requests at once', () => {
  let t: TestSystem
  const made: string[] = []
  beforeAll(async () => {
    t = await startTestSystem({portRange: [46400, 46449]})
  })
  afterAll(async () => {
    await t?.close()
  })

  it('20 provisions in parallel: 20 containers on 20 distinct host ports, each answering PING with its binding', async () => {
    const ids = Array.from({length: 20}, () => testId())
    made.push(...ids)
    const provisioned = await Promise.all(ids.map((id) => t.osb.provision(id, {...REDIS, ...ORG})))
    expect(provisioned.map((r) => r.status)).toEqual(ids.map(() => 201))
    const bound = await Promise.all(ids.map((id) => t.osb.bind(id, testId('b'), {...REDIS})))
    expect(bound.map((r) => r.status)).toEqual(ids.map(() => 201))
    const ports = bound.map((r) => r.body.credentials.port as number)
    expect(new Set(ports).size).toBe(20)
    for (const port of ports) expect(port).toBeGreaterThanOrEqual(46400)
    for (const r of bound) expect(redis(r.body.credentials.uri, 'PING')).toBe('PONG')
    for (const id of ids) expect((await labelled(id)).containers.filter((c) => c.State === 'running')).toHaveLength(1)
  })

  it('the same PUT 10 times at once makes one container; every answer agrees', async () => {
    const id = testId()
    made.push(id)
    const answers = await Promise.all(Array.from({length: 10}, () => t.osb.provision(id, {...REDIS, ...ORG})))
    const statuses = answers.map((r) => r.status).sort()
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 200)).toHaveLength(9)
    expect((await labelled(id)).containers).toHaveLength(1)
    expect(await t.system.store.portsOf(id)).toHaveLength(1)

    const asyncId = testId()
    made.push(asyncId)
    const asyncAnswers = await Promise.all(
      Array.from({length: 10}, () => t.osb.provision(asyncId, {...REDIS, ...ORG}, true)),
    )
    // All accepted as one operation, or already done by the time a late one arrived.
    const operations = new Set(asyncAnswers.filter((r) => r.status === 202).map((r) => r.body.operation))
    expect(asyncAnswers.every((r) => r.status === 202 || r.status === 200)).toBe(true)
    expect(operations.size).toBe(1)
    expect((await t.osb.waitFor(asyncId, [...operations][0])).body.state).toBe('succeeded')
    expect((await labelled(asyncId)).containers).toHaveLength(1)
  })

  it('10 identical binds at once make one binding user', async () => {
    const id = made[0]
    const bindingId = testId('b')
    const answers = await Promise.all(Array.from({length: 10}, () => t.osb.bind(id, bindingId, {...REDIS})))
    expect(answers.every((r) => r.status === 201 || r.status === 200)).toBe(true)
    expect(answers.filter((r) => r.status === 201)).toHaveLength(1)
    const users = new Set(answers.map((r) => r.body.credentials.username))
    expect(users.size).toBe(1)
    expect(new Set(answers.map((r) => r.body.credentials.password)).size).toBe(1)
    expect(redis(answers[0].body.credentials.uri, 'PING')).toBe('PONG')
    // The container knows exactly the instance user, the image's admin, one user per binding, and the two spare users the broker keeps ready.
    const store = t.system.store
    for (let i = 0; i < 100 && (await store.spareUsers(id)).length < 2; i++)
      await new Promise((r) => setTimeout(r, 100))
    const expected = [
      'default',
      'dbroker-admin',
      ...(await store.listBindings(id)).map((b) => b.credentials.username),
      ...(await store.spareUsers(id)).map((u) => u.username),
    ]
    expect(expected).toHaveLength(6)
    expect(await redisAclUsers(id)).toEqual(expected.sort())
  })

  it('deprovisioning everything at once leaves no container or volume', async () => {
    const answers = await Promise.all(made.map((id) => t.osb.deprovision(id, REDIS)))
    expect(answers.map((r) => r.status)).toEqual(made.map(() => 200))
    for (const id of made) {
      const left = await labelled(id)
      expect(left.containers).toHaveLength(0)
      expect(left.volumes).toHaveLength(0)
    }
    expect(await t.system.store.usedPortsByHost()).toEqual(new Map())
  })
})
