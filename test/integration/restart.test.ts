import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {instanceCredentials} from '../../src/broker/credentials.js'
import {buildSpec} from '../../src/broker/spec.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {openStore} from '../../src/store/index.js'
import {psql, redis} from '../helpers/clients.js'
import {docker, labelled, removeLabelled} from '../helpers/docker.js'
import {ORG, POSTGRES, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

const RANGE: [number, number] = [46500, 46549]

describe('the broker restarts on the same data dir', () => {
  let dataDir: string
  let t: TestSystem | undefined
  const cache = testId()
  const db = testId()
  const cacheBinding = testId('b')
  const dbBinding = testId('b')
  let cacheCredentials: Record<string, any>
  let dbCredentials: Record<string, any>
  const made: string[] = []

  const start = async () => {
    t = await startTestSystem({dataDir, portRange: RANGE})
    return t
  }
  /** Stops the broker only: containers keep running, as after Ctrl-C on `dbroker up`. */
  const stop = async () => {
    await t?.system.close()
    t = undefined
  }
  const runningContainer = async (id: string) => (await labelled(id)).containers.filter((c) => c.State === 'running')

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-restart-'))
    const first = await start()
    const [r, p] = await Promise.all([
      first.osb.provision(cache, {...REDIS, ...ORG}),
      first.osb.provision(db, {...POSTGRES, ...ORG}),
    ])
    expect([r.status, p.status]).toEqual([201, 201])
    cacheCredentials = (await first.osb.bind(cache, cacheBinding, {...REDIS})).body.credentials
    dbCredentials = (await first.osb.bind(db, dbBinding, {...POSTGRES})).body.credentials
    expect(redis(cacheCredentials.uri, 'SET', 'survivor', 'yes')).toBe('OK')
    psql(dbCredentials.uri, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
  })
  afterAll(async () => {
    if (t) await t.close()
    await removeLabelled([cache, db, ...made])
    rmSync(dataDir, {recursive: true, force: true})
  })

  it('instances, bindings, ports, OSB credentials and data survive a restart', async () => {
    const before = t!.osb.credentials
    await stop()
    const again = await start()
    expect(again.osb.credentials).toEqual(before)
    expect((await again.osb.request('GET', `/v2/service_instances/${cache}`)).status).toBe(200)
    const binding = await again.osb.request('GET', `/v2/service_instances/${cache}/service_bindings/${cacheBinding}`)
    expect(binding.body.credentials).toEqual(cacheCredentials)
    const dbBound = await again.osb.request('GET', `/v2/service_instances/${db}/service_bindings/${dbBinding}`)
    expect(dbBound.body.credentials).toEqual(dbCredentials)
    expect(await again.system.store.portsOf(cache)).toEqual([
      {hostId: 'local', port: cacheCredentials.port, containerPort: 6379},
    ])
    expect(redis(cacheCredentials.uri, 'GET', 'survivor')).toBe('yes')
    expect(psql(dbCredentials.uri, 'SELECT v FROM kept')).toBe('yes')
    // A new instance does not take a port that survived.
    const other = testId()
    const created = await again.osb.provision(other, {...REDIS, ...ORG})
    expect(created.status).toBe(201)
    const ports = (await again.system.store.portsOf(other)).map((p) => p.port)
    expect(ports).not.toContain(cacheCredentials.port)
    expect(ports).not.toContain(dbCredentials.port)
    expect((await again.osb.deprovision(other, REDIS)).status).toBe(200)
  })

  it('a container removed behind the broker’s back while it is down comes back on start with the same port, credentials and data', async () => {
    await stop()
    const [gone] = await runningContainer(cache)
    await docker.getContainer(gone.Id).remove({force: true})
    expect((await labelled(cache)).containers).toHaveLength(0)
    await start()
    const [back] = await runningContainer(cache)
    expect(back.Id).not.toBe(gone.Id)
    expect(back.Ports.find((p) => p.PrivatePort === 6379)?.PublicPort).toBe(cacheCredentials.port)
    expect(redis(cacheCredentials.uri, 'GET', 'survivor')).toBe('yes')
  })

  it('a container removed while the broker runs comes back within a few heartbeats', async () => {
    const [gone] = await runningContainer(db)
    await docker.getContainer(gone.Id).remove({force: true})
    const deadline = Date.now() + 60_000
    let back: Awaited<ReturnType<typeof runningContainer>> = []
    while (back.length === 0 && Date.now() < deadline) {
      await sleep(500)
      back = await runningContainer(db)
    }
    expect(back).toHaveLength(1)
    // The container runs before postgres listens: give it the time a readiness probe would.
    for (let i = 0; i < 60; i++) {
      try {
        psql(dbCredentials.uri, 'SELECT 1')
        break
      } catch {
        await sleep(500)
      }
    }
    expect(psql(dbCredentials.uri, 'SELECT v FROM kept')).toBe('yes')
  })

  it('operations left in progress by a broker that died are finished or failed on start, never left in progress', async () => {
    await stop()
    // What a killed broker leaves: an update half-done and a provision whose instance never got stored.
    const store = await openStore(`sqlite:${path.join(dataDir, 'dbroker.db')}`)
    const now = Date.now()
    const op = (kind: 'update' | 'provision', instanceId: string) => ({
      id: `${kind}-${randomUUID()}`,
      kind,
      instanceId,
      bindingId: null,
      state: 'in progress' as const,
      description: `${kind} in progress`,
      requestKey: '{}',
      originatingIdentity: null,
      requestIdentity: null,
      createdAt: now,
      updatedAt: now,
    })
    const update = op('update', cache)
    const provision = op('provision', testId())
    // And a provision that had stored its instance but not yet started the container.
    const halfMade = testId()
    made.push(halfMade)
    const resumed = op('provision', halfMade)
    try {
      expect(await store.transitionInstance(cache, ['ready'], 'updating')).toBe(true)
      await store.insertOperation(update, 'local')
      await store.insertOperation(provision, 'local')
      const {service, plan} = loadCatalog().plan(REDIS.plan_id)!
      const host = (await store.getHost('local'))!
      const ports = await store.allocatePorts(host, halfMade, plan.container!.ports)
      const credentials = instanceCredentials(plan)
      await store.insertInstance(
        {
          id: halfMade,
          serviceId: service.id,
          planId: plan.id,
          hostId: host.id,
          state: 'provisioning',
          organizationGuid: ORG.organization_guid,
          spaceGuid: ORG.space_guid,
          parameters: {},
          context: {},
          maintenanceInfo: {version: '1.0.0'},
          credentials,
          spec: buildSpec({
            instanceId: halfMade,
            installationId: await store.installationId(),
            service,
            plan,
            host,
            ports,
            credentials,
            parameters: {},
          }),
          dashboardUrl: null,
          name: null,
          createdAt: now,
          updatedAt: now,
        },
        '{}',
      )
      await store.insertOperation(resumed, 'local')
    } finally {
      await store.close()
    }

    const again = await start()
    const deadline = Date.now() + 60_000
    let pending = await again.system.store.operationsInProgress()
    while (pending.length > 0 && Date.now() < deadline) {
      await sleep(200)
      pending = await again.system.store.operationsInProgress()
    }
    expect(pending).toEqual([])
    expect((await again.system.store.getOperation(update.id))!.state).toBe('failed')
    expect((await again.system.store.getOperation(provision.id))!.state).toBe('failed')
    expect((await again.system.store.getInstance(cache))!.state).toBe('ready')
    const last = await again.osb.lastOperation(cache, {operation: update.id})
    expect(last.body).toMatchObject({state: 'failed', instance_usable: true})
    expect(last.body.description).toMatch(/broker restart/)
    expect(redis(cacheCredentials.uri, 'GET', 'survivor')).toBe('yes')
    expect((await again.system.store.getOperation(resumed.id))!.state).toBe('succeeded')
    expect((await again.osb.request('GET', `/v2/service_instances/${halfMade}`)).status).toBe(200)
    const bound = await again.osb.bind(halfMade, testId('b'), {...REDIS})
    expect(redis(bound.body.credentials.uri, 'PING')).toBe('PONG')
    // The instance takes changes again.
    expect(
      (await again.osb.update(cache, {service_id: REDIS.service_id, parameters: {maxmemory_policy: 'allkeys-lru'}}))
        .status,
    ).toBe(200)
  })

  it('in the end, deprovisioning leaves no container, volume or port', async () => {
    const current = t!
    expect((await current.osb.deprovision(cache, REDIS)).status).toBe(200)
    expect((await current.osb.deprovision(db, POSTGRES)).status).toBe(200)
    for (const id of made) expect((await current.osb.deprovision(id, REDIS)).status).toBe(200)
    for (const id of [cache, db, ...made]) {
      const left = await labelled(id)
      expect(left.containers).toHaveLength(0)
      expect(left.volumes).toHaveLength(0)
    }
    expect(await current.system.store.usedPortsByHost()).toEqual(new Map())
  })
})
