import {describe, expect, it} from 'vitest'

import {adminViews} from '../../src/broker/admin/views.js'
import {BrokerEvents} from '../../src/broker/events.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import type {ContainerStats} from '../../src/core/admin.js'
import type {AgentClient} from '../../src/core/agent.js'
import {silentLogger} from '../../src/core/log.js'
import type {ContainerState, Host, ServiceInstance} from '../../src/core/types.js'
import type {Store} from '../../src/store/index.js'

const host = {id: 'h1', status: 'alive', lastHeartbeat: Date.now(), keepaliveMs: 60_000} as Host
/** An instance of a plan the catalog lacks (taken for dedicated); `container`: the agent-side id of a shared one. */
const instance = (id: string, container = id) =>
  ({id, hostId: 'h1', planId: 'none', spec: {instanceId: container}}) as unknown as ServiceInstance
const running = (id: string, status: ContainerState['status'] = 'running') =>
  [id, {instanceId: id, status} as ContainerState] as const

/** An agent whose stats answer when the test says so, counting the samples asked for. */
function slowAgent() {
  const asked: string[] = []
  let release: (() => void) | undefined
  let gate = Promise.resolve()
  const agent = {
    async stats(id: string): Promise<ContainerStats> {
      asked.push(id)
      await gate
      return {cpuPercent: 12.5, memoryBytes: 1024, memoryLimitBytes: 4096}
    },
  } as unknown as AgentClient
  return {
    agent,
    asked,
    hold: () => (gate = new Promise((resolve) => (release = resolve))),
    release: () => release?.(),
  }
}

function views(agent: AgentClient, events = new BrokerEvents(), statsTimeoutMs = 50) {
  return adminViews({
    store: {} as Store,
    catalog: loadCatalog(),
    provisioner: {} as Provisioner,
    events,
    agentFor: () => agent,
    credentials: {username: 'a', password: 'b'},
    keepaliveMs: 1000,
    log: silentLogger,
    statsTimeoutMs,
  })
}

const hosts = new Map([[host.id, host]])

describe("the admin API's stats cache", () => {
  it('samples a running instance once and answers the next list from the cache', async () => {
    const fake = slowAgent()
    const v = views(fake.agent)
    const first = await v.statsOf([instance('i1')], hosts, new Map([running('i1')]))
    const second = await v.statsOf([instance('i1')], hosts, new Map([running('i1')]))
    expect(first.get('i1')?.cpuPercent).toBe(12.5)
    expect(second.get('i1')?.cpuPercent).toBe(12.5)
    expect(fake.asked).toEqual(['i1'])
  })

  it('answers within its timeout without a slow sample, and has it on the next list once it came', async () => {
    const fake = slowAgent()
    fake.hold()
    const v = views(fake.agent)
    const waited = await v.statsOf([instance('i1')], hosts, new Map([running('i1')]))
    expect(waited.has('i1')).toBe(false)
    fake.release()
    await new Promise((resolve) => setImmediate(resolve))
    const later = await v.statsOf([instance('i1')], hosts, new Map([running('i1')]))
    expect(later.get('i1')?.memoryBytes).toBe(1024)
    // The sample in flight was shared, not asked for twice.
    expect(fake.asked).toEqual(['i1'])
  })

  it('samples a shared container once for all its instances, and answers each of them with it', async () => {
    const fake = slowAgent()
    const v = views(fake.agent)
    const pool = 'shared.pool.h1'
    const stats = await v.statsOf([instance('i1', pool), instance('i2', pool)], hosts, new Map([running(pool)]))
    expect(stats.get('i1')?.cpuPercent).toBe(12.5)
    expect(stats.get('i2')?.cpuPercent).toBe(12.5)
    expect(fake.asked).toEqual([pool])
  })

  it('forgets a deprovisioned instance and one whose container stopped', async () => {
    const fake = slowAgent()
    const events = new BrokerEvents()
    const v = views(fake.agent, events)
    await v.statsOf([instance('i1'), instance('i2')], hosts, new Map([running('i1'), running('i2')]))
    events.emitChange({kind: 'instance', id: 'i1', action: 'deprovision', state: 'gone'})
    const stopped = await v.statsOf([instance('i2')], hosts, new Map([running('i2', 'exited')]))
    expect(stopped.size).toBe(0)
    await v.statsOf([instance('i1'), instance('i2')], hosts, new Map([running('i1'), running('i2')]))
    expect(fake.asked.sort()).toEqual(['i1', 'i1', 'i2', 'i2'])
  })
})
