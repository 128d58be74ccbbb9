import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {BrokerEvents, ChangeEvent} from '../../src/broker/events.js'
import type {Provisioner, RequestMeta} from '../../src/broker/lifecycle/index.js'
import type {ContainerSpec, ContainerState} from '../../src/core/types.js'
import type {Store} from '../../src/store/index.js'
import {FakeAgent, KV} from '../helpers/fake-agent.js'
import {fakeLifecycle} from '../helpers/lifecycle.js'

const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const async: RequestMeta = {...sync, acceptsIncomplete: true}

/** An agent whose next apply of a spec with KV_POLICY=broken fails, and whose removes fail while `removeFails`. */
class FlakyAgent extends FakeAgent {
  removeFails = false
  override async apply(spec: ContainerSpec): Promise<ContainerState> {
    if (spec.env.KV_POLICY === 'broken') throw new Error('the new container did not start')
    return super.apply(spec)
  }
  override async remove(instanceId: string): Promise<void> {
    if (this.removeFails) throw new Error('the engine refused the removal')
    return super.remove(instanceId)
  }
}

describe('every change of state is announced once, with its operation', () => {
  let store: Store
  let agent: FlakyAgent
  let provisioner: Provisioner
  let events: ChangeEvent[]
  let bus: BrokerEvents
  const changes = () => events.map((e) => `${e.kind} ${e.action} ${e.state}`)
  const since = (mark: number) => changes().slice(mark)

  beforeEach(async () => {
    ;({store, agent, events: bus, provisioner} = await fakeLifecycle(new FlakyAgent()))
    events = []
    bus.on('change', (event) => events.push(event))
    expect((await provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status).toBe(201)
    await provisioner.drain(5000)
  })
  afterEach(async () => {
    await provisioner.drain(5000)
    await store.close()
  })

  it('provision: provisioning, then ready together with its operation succeeding', () => {
    expect(changes()).toEqual([
      'instance provision provisioning',
      'instance provision ready',
      'operation provision succeeded',
    ])
    expect(events[0]).toMatchObject({id: 'i1'})
  })

  it('bind then unbind: binding, bound, unbinding, gone, each operation ending after its state', async () => {
    const mark = events.length
    expect((await provisioner.bind('i1', 'b1', {...KV}, sync)).status).toBe(201)
    expect((await provisioner.unbind('i1', 'b1', {...KV}, sync)).status).toBe(200)
    expect(since(mark)).toEqual([
      'binding bind binding',
      'binding bind bound',
      'operation bind succeeded',
      'binding unbind unbinding',
      'binding unbind gone',
      'operation unbind succeeded',
    ])
    expect(
      events
        .slice(mark)
        .filter((e) => e.kind === 'binding')
        .every((e) => e.id === 'b1' && e.instanceId === 'i1'),
    ).toBe(true)
  })

  it('when its event arrives, the state and the operation are already in the store', async () => {
    await provisioner.bind('i1', 'b1', {...KV}, sync)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    // The unbind hook waits, so what the store holds at the 'unbinding' event is what the event announced.
    agent.onExec = async (call) => {
      if (call.command?.[0] === '/dbroker/unbind') await held
    }
    const seen = new Promise<{state?: string; op?: string}>((resolve) => {
      const look = async (event: ChangeEvent) => {
        if (event.state !== 'unbinding') return
        bus.off('change', look)
        const op = await store.latestOperation('i1', 'b1')
        resolve({state: (await store.getBinding('b1'))?.state, op: op && `${op.kind} ${op.state}`})
      }
      bus.on('change', look)
    })
    const unbind = await provisioner.unbind('i1', 'b1', {...KV}, async)
    expect(await seen).toEqual({state: 'unbinding', op: 'unbind in progress'})
    expect(unbind.body).toEqual({operation: (await store.latestOperation('i1', 'b1'))!.id})
    release()
    await provisioner.drain(5000)
    expect(await store.getBinding('b1')).toBeUndefined()
  })

  it('a failed unbind announces the binding bound again, then the failed operation', async () => {
    await provisioner.bind('i1', 'b1', {...KV}, sync)
    agent.onExec = async () => {
      throw new Error('the service is read-only')
    }
    const mark = events.length
    await expect(provisioner.unbind('i1', 'b1', {...KV}, sync)).rejects.toMatchObject({
      status: 500,
      message: expect.stringMatching(/read-only/),
    })
    expect(since(mark)).toEqual(['binding unbind unbinding', 'binding unbind bound', 'operation unbind failed'])
    expect((await store.getBinding('b1'))?.state).toBe('bound')
  })

  it('a failed update announces the instance ready again as it was, then the failed operation', async () => {
    const mark = events.length
    await expect(
      provisioner.update('i1', {service_id: KV.service_id, parameters: {policy: 'broken'}}, sync),
    ).rejects.toMatchObject({status: 500})
    expect(since(mark)).toEqual(['instance update updating', 'instance update ready', 'operation update failed'])
    const instance = (await store.getInstance('i1'))!
    expect(instance.state).toBe('ready')
    expect(instance.spec.env.KV_POLICY).toBeUndefined()
  })

  it('a failed deprovision announces the instance back in its old state, then the failed operation', async () => {
    agent.removeFails = true
    const mark = events.length
    await expect(provisioner.deprovision('i1', {...KV}, sync)).rejects.toMatchObject({
      status: 500,
      message: expect.stringMatching(/refused/),
    })
    expect(since(mark)).toEqual([
      'instance deprovision deprovisioning',
      'instance deprovision ready',
      'operation deprovision failed',
    ])
    agent.removeFails = false
    expect((await provisioner.deprovision('i1', {...KV}, sync)).status).toBe(200)
    expect(since(mark).slice(3)).toEqual([
      'instance deprovision deprovisioning',
      'instance deprovision gone',
      'operation deprovision succeeded',
    ])
  })

  it('a provision whose container fails leaves nothing and says failed', async () => {
    const mark = events.length
    agent.removeFails = false
    const original = agent.apply.bind(agent)
    agent.apply = async () => {
      throw new Error('no such image')
    }
    await expect(
      provisioner.provision('i2', {...KV, organization_guid: 'o', space_guid: 's'}, sync),
    ).rejects.toMatchObject({status: 500})
    agent.apply = original
    expect(since(mark)).toEqual([
      'instance provision provisioning',
      'instance provision failed',
      'operation provision failed',
    ])
    expect(await store.getInstance('i2')).toBeUndefined()
  })

  it('an update a restart interrupted is resumed as a rollback that is announced: ready again, then the failed operation', async () => {
    // What a broker killed mid-update leaves: the instance updating and its operation in progress, owned by this broker.
    const op = {
      id: 'update-left',
      kind: 'update' as const,
      instanceId: 'i1',
      bindingId: null,
      state: 'in progress' as const,
      description: 'update in progress',
      requestKey: '{}',
      originatingIdentity: null,
      requestIdentity: null,
      createdAt: Date.now(),
      updatedAt: Date.now(),
    }
    expect(await store.transitionInstance('i1', ['ready'], 'updating')).toBe(true)
    await store.insertOperation(op, 'b1')
    const mark = events.length
    expect(await provisioner.resume()).toBe(1)
    await provisioner.drain(5000)
    expect(since(mark)).toEqual(['instance update ready', 'operation update failed'])
    expect(await store.getOperation('update-left')).toMatchObject({
      state: 'failed',
      description: 'update failed: interrupted by a broker restart; nothing was changed',
    })
    expect((await store.getInstance('i1'))?.state).toBe('ready')
  })
})
