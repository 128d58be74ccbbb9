import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {Deployments} from '../../src/broker/deployments.js'
import type {ContainerSpec, ContainerState, Host} from '../../src/core/types.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {FakeAgent} from '../helpers/fake-agent.js'

/** A dependency that takes longest: a push that does not wait for it records its dependents first. */
const slow = (instanceId: string) => new Promise((resolve) => setTimeout(resolve, instanceId.endsWith(':db') ? 40 : 0))

/** Records each apply and restart once done, and restarts; can be told to fail an apply or to be unreachable. */
class RecordingAgent extends FakeAgent {
  failApply = new Set<string>()
  down = false
  override async apply(spec: ContainerSpec): Promise<ContainerState> {
    if (this.down) throw new Error('connect ECONNREFUSED')
    await slow(spec.instanceId)
    if (this.failApply.has(spec.instanceId)) {
      this.calls.push({method: 'apply', instanceId: spec.instanceId})
      throw new Error('the service did not become ready')
    }
    return super.apply(spec)
  }
  override async restart(instanceId = ''): Promise<void> {
    await slow(instanceId)
    this.calls.push({method: 'restart', instanceId})
  }
  override async remove(instanceId: string): Promise<void> {
    if (this.down) throw new Error('connect ECONNREFUSED')
    return super.remove(instanceId)
  }
}

const manifest = (containers: string) => `name: shop\nhosts:\n  - name: h1\n    containers:\n${containers}`
const db = (extra = '') => `      - name: db\n        image: dbroker/redis:7\n        ports: ["6379"]\n${extra}`
const cache = '      - name: cache\n        image: dbroker/redis:7\n        ports: ["6380"]\n        depends_on: [db]\n'
const app = '      - name: app\n        image: dbroker/redis:7\n        depends_on: [cache]\n'
const key = (c: string) => `deploy:shop:h1:${c}`
const calls = (agent: FakeAgent, mark = 0) => agent.since(mark).map((c) => `${c.method} ${c.instanceId.split(':')[3]}`)

describe('deploying a manifest through the broker (agent faked at its boundary)', () => {
  let store: Store
  let agent: RecordingAgent
  let deployments: Deployments
  let host: Host
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    host = await store.upsertHost({
      id: 'h1',
      serviceAddress: '127.0.0.1',
      bindAddress: '127.0.0.1',
      agentUrl: null,
      portMin: 41000,
      portMax: 41001,
      zone: null,
      labels: {},
      facts: null,
    })
    agent = new RecordingAgent()
    deployments = new Deployments({store, agentFor: () => agent, keepaliveMs: 60_000, log: createLogger('silent')})
  })
  afterEach(async () => {
    await store.close()
  })

  it('creates dependencies first; a change recreates one and restarts its dependents after it; a shrink removes first', async () => {
    const first = await deployments.deploy(manifest(db() + cache + app), 'shop.yml')
    expect(calls(agent)).toEqual(['apply db', 'apply cache', 'apply app'])
    expect(first.containers.every((c) => c.state === 'ready')).toBe(true)
    expect((await store.portsOf(key('db'))).map((p) => p.port)).toEqual([41000])

    let mark = agent.calls.length
    const changed = manifest(db('        memory: 128m\n') + cache + app)
    const dry = await deployments.deploy(changed, 'shop.yml', {dryRun: true})
    expect(calls(agent, mark)).toEqual([])
    expect((await store.deployments.get('shop'))?.version).toBe(1)
    const second = await deployments.deploy(changed, 'shop.yml')
    expect(second.diff).toEqual(dry.diff)
    expect(calls(agent, mark)).toEqual(['apply db', 'restart cache', 'restart app'])
    expect((await store.portsOf(key('db'))).map((p) => p.port)).toEqual([41000])

    mark = agent.calls.length
    const third = await deployments.deploy(manifest(db('        memory: 128m\n') + cache), 'shop.yml')
    expect(third.lines).toContain('h1  - app (removed)')
    expect(calls(agent, mark)).toEqual(['remove app'])
    expect(await store.deployments.container(key('app'))).toBeUndefined()
    expect((await store.deployments.get('shop'))?.version).toBe(3)
  })

  it('a manifest whose ports do not fit the host range stores nothing and holds no port', async () => {
    const third = '      - name: web\n        image: dbroker/redis:7\n        ports: ["8080"]\n'
    const error = await deployments.deploy(manifest(db() + cache + third), 'shop.yml').catch((e: unknown) => e)
    expect(error).toMatchObject({
      status: 409,
      message: expect.stringMatching(/range 41000-41001 is full: nothing of shop was stored/),
    })
    expect(await store.deployments.list()).toEqual([])
    expect(await store.deployments.containers()).toEqual([])
    expect(await store.usedPortsByHost()).toEqual(new Map())
    expect(agent.calls).toEqual([])
  })

  it('a bad manifest is a 400 naming file, path and line; a manifest for an unknown host too', async () => {
    const cycle = manifest(db('        depends_on: [app]\n') + cache + app)
    await expect(deployments.deploy(cycle, 'shop.yml')).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(
        /^shop\.yml: line \d+: hosts\[0\]\.containers\[\d\]\.depends_on: dependency cycle/,
      ),
    })
    await expect(deployments.deploy(manifest(db()).replace('h1', 'h9'), 'other.yml')).rejects.toMatchObject({
      status: 400,
      message: 'other.yml: line 3: hosts[0].name: no host "h9" is registered (see dbroker hosts)',
    })
    expect(await store.deployments.list()).toEqual([])
  })

  it('a dependency that fails to start leaves its dependents unmade and failed, for convergence to retry', async () => {
    agent.failApply.add(key('db'))
    const result = await deployments.deploy(manifest(db() + cache + app), 'shop.yml')
    expect(calls(agent)).toEqual(['apply db'])
    expect(result.containers.map((c) => [c.container, c.state])).toEqual(
      expect.arrayContaining([
        ['db', 'failed'],
        ['cache', 'failed'],
        ['app', 'failed'],
      ]),
    )
    expect((await store.deployments.container(key('app')))?.error).toBe('a container it depends on did not start')
  })

  it('a host that cannot be told to remove keeps the container `removing` until a later settle removes it', async () => {
    await deployments.deploy(manifest(db() + cache + app), 'shop.yml')
    agent.down = true
    const deleted = await deployments.remove('shop')
    expect(deleted.deleted).toBe(false)
    expect((await store.deployments.containers()).map((r) => r.state)).toEqual(['removing', 'removing', 'removing'])
    agent.down = false
    const mark = agent.calls.length
    await deployments.settle()
    expect(calls(agent, mark)).toEqual(['remove app', 'remove cache', 'remove db'])
    expect(await store.deployments.list()).toEqual([])
    expect(await store.usedPortsByHost()).toEqual(new Map())
    expect(host.id).toBe('h1')
  })
})
