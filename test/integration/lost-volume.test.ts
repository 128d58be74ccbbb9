import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {psql, redis} from '../helpers/clients.js'
import {docker, labelled, loseContainerAndVolume, removeLabelled} from '../helpers/docker.js'
import {ORG, POSTGRES, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const RANGE: [number, number] = [46600, 46649]

type Credentials = {uri: string; username: string; password: string; port: number}

describe('a container and its volume lost behind the broker’s back', () => {
  let dataDir: string
  let t: TestSystem | undefined
  const cache = testId()
  const db = testId()
  let cacheBindings: Credentials[]
  let dbBinding: Credentials

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-lost-volume-'))
    t = await startTestSystem({dataDir, portRange: RANGE})
    const [r, p] = await Promise.all([
      t.osb.provision(cache, {...REDIS, ...ORG}),
      t.osb.provision(db, {...POSTGRES, ...ORG}),
    ])
    expect([r.status, p.status]).toEqual([201, 201])
    cacheBindings = await Promise.all(
      [testId('b'), testId('b')].map(
        async (id) => (await t!.osb.bind(cache, id, {...REDIS})).body.credentials as Credentials,
      ),
    )
    dbBinding = (await t.osb.bind(db, testId('b'), {...POSTGRES})).body.credentials as Credentials
    for (const c of cacheBindings) expect(redis(c.uri, 'SET', `was-${c.username}`, 'here')).toBe('OK')
    psql(dbBinding.uri, 'CREATE TABLE lost (v text)')
  })
  afterAll(async () => {
    if (t) await t.close()
    await removeLabelled([cache, db])
    rmSync(dataDir, {recursive: true, force: true})
  })

  it('while the broker runs: the converger re-makes both containers with the same ports, and every binding’s credentials work again in redis-cli and psql', async () => {
    const [lostCache, lostDb] = await Promise.all([loseContainerAndVolume(cache), loseContainerAndVolume(db)])
    expect(lostCache).toHaveLength(1)
    expect(lostDb).toHaveLength(1)
    for (const c of cacheBindings)
      await until(`redis binding ${c.username} answering`, () => redis(c.uri, 'PING') === 'PONG', {
        timeoutMs: 90_000,
        everyMs: 250,
      })
    await until(
      `postgresql binding ${dbBinding.username} answering`,
      () => psql(dbBinding.uri, 'SELECT session_user') === dbBinding.username,
      {timeoutMs: 90_000, everyMs: 250},
    )
    // The volume really is new: what was written before is gone, and the bindings write again.
    for (const c of cacheBindings) expect(redis(c.uri, 'EXISTS', `was-${c.username}`)).toBe('0')
    expect(psql(dbBinding.uri, "SELECT to_regclass('lost') IS NULL")).toBe('t')
    expect(redis(cacheBindings[0].uri, 'SET', 'after', 'yes')).toBe('OK')
    psql(dbBinding.uri, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
    expect(psql(dbBinding.uri, 'SELECT v FROM kept')).toBe('yes')
    const port = (await labelled(cache)).containers[0].Ports.find((p) => p.PrivatePort === 6379)?.PublicPort
    expect(port).toBe(cacheBindings[0].port)
  })

  it('while the broker is down: on start the binding users are back before it serves', async () => {
    await t!.system.close()
    t = undefined
    await loseContainerAndVolume(cache)
    t = await startTestSystem({dataDir, portRange: RANGE})
    for (const c of cacheBindings) expect(redis(c.uri, 'PING')).toBe('PONG')
  })

  it('an unbound binding is not brought back', async () => {
    const [kept, removed] = cacheBindings
    const bindingId = (await t!.system.store.listBindings(cache)).find(
      (b) => b.credentials.username === removed.username,
    )!.id
    expect((await t!.osb.unbind(cache, bindingId, REDIS)).status).toBe(200)
    await loseContainerAndVolume(cache)
    await until(`redis binding ${kept.username} answering`, () => redis(kept.uri, 'PING') === 'PONG', {
      timeoutMs: 90_000,
      everyMs: 250,
    })
    expect(redis(removed.uri, 'PING')).not.toBe('PONG')
  })

  it('brought back by the supervisor (a death a moment before holds the converger back): the binding users come back too', async () => {
    // An instance of its own: the deaths above count toward the others' supervision windows.
    const alone = testId()
    expect((await t!.osb.provision(alone, {...REDIS, ...ORG})).status).toBe(201)
    const kept = (await t!.osb.bind(alone, testId('b'), REDIS)).body.credentials as Credentials
    try {
      expect(redis(kept.uri, 'SET', 'before-the-supervisor', 'here')).toBe('OK')
      // One death the engine's policy restarts: the next within the window makes the supervisor back off, so the
      // converger leaves the instance alone and the supervisor's own apply re-makes the lost container.
      const before = (await labelled(alone)).containers[0]
      const {State} = await docker.getContainer(before.Id).inspect()
      process.kill(State.Pid, 'SIGKILL')
      await until('the engine restarted it', async () => {
        const now = await docker.getContainer(before.Id).inspect()
        return now.State.Running && now.State.StartedAt !== State.StartedAt && redis(kept.uri, 'PING') === 'PONG'
      })
      await loseContainerAndVolume(alone)
      await until(`redis binding ${kept.username} answering`, () => redis(kept.uri, 'PING') === 'PONG', {
        timeoutMs: 60_000,
        everyMs: 250,
      })
      // A new volume, and the binding's user in it writes again.
      expect(redis(kept.uri, 'EXISTS', 'before-the-supervisor')).toBe('0')
      expect(redis(kept.uri, 'SET', 'after-the-supervisor', 'here')).toBe('OK')
    } finally {
      await t!.osb.deprovision(alone, REDIS)
      await removeLabelled([alone])
    }
  })
})
