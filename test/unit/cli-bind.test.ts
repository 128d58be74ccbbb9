import {describe, expect, it} from 'vitest'

import {bindService, unbindBindings} from '../../src/cli/services/bind.js'
import {resolvePlan} from '../../src/cli/services/catalog.js'
import {listInstances, NameTakenError, provisionInstance} from '../../src/cli/services/instances.js'
import {DbrokerError, UsageError} from '../../src/core/errors.js'
import {FAKE_CATALOG, FakeBroker} from '../helpers/fake-broker.js'

const fast = {wait: {intervalMs: 1}}

describe("the CLI's bind decision", () => {
  it('provisions the service under its own name with the first plan when no instance has the name, then binds it', async () => {
    const broker = new FakeBroker()
    const result = await bindService(broker, 'redis', fast)
    expect(broker.calls).toEqual(['provision redis/small redis', 'bind redis'])
    expect(result.instance).toMatchObject({name: 'redis', service: 'redis', plan: 'small', provisioned: true})
    expect(result.credentials.uri).toContain(result.instance.id)
  })

  it('reuses the instance with the name on the next bind, with a new binding each time', async () => {
    const broker = new FakeBroker()
    const first = await bindService(broker, 'redis', fast)
    const second = await bindService(broker, 'redis', fast)
    expect(broker.calls.filter((c) => c.startsWith('provision'))).toHaveLength(1)
    expect(second.instance).toMatchObject({id: first.instance.id, provisioned: false})
    expect(second.binding.id).not.toBe(first.binding.id)
  })

  it('makes a new instance with --plan and --name, and binds an instance given by name or id', async () => {
    const broker = new FakeBroker()
    const made = await bindService(broker, 'postgresql', {plan: 'medium', name: 'orders', ...fast})
    expect(made.instance).toMatchObject({name: 'orders', plan: 'medium', provisioned: true})
    expect((await bindService(broker, 'orders', fast)).instance.id).toBe(made.instance.id)
    expect((await bindService(broker, made.instance.id, fast)).instance.name).toBe('orders')
    expect(broker.calls.filter((c) => c.startsWith('provision'))).toEqual(['provision postgresql/medium orders'])
  })

  it('a mistyped instance or service name suggests the near ones, and provisions nothing', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small')
    await expect(bindService(broker, 'cahce', fast)).rejects.toMatchObject({
      message: 'no instance and no service is called cahce',
      hint: expect.stringMatching(/^did you mean cache\? services: /),
    })
    await expect(bindService(broker, 'rediss', fast)).rejects.toMatchObject({
      hint: expect.stringMatching(/^did you mean redis\? /),
    })
    expect(broker.calls).toEqual([])
  })

  it('refuses --plan medium for an instance on small, naming both plans, and binds nothing', async () => {
    const broker = new FakeBroker()
    broker.add('pg-1', 'postgresql', 'postgresql', 'small')
    const error = await bindService(broker, 'postgresql', {plan: 'medium', ...fast}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DbrokerError)
    expect((error as Error).message).toBe('postgresql (pg-1) is on plan small, not medium')
    expect((error as DbrokerError).hint).toContain('--name')
    await expect(bindService(broker, 'pg-1', {plan: 'medium', ...fast})).rejects.toThrow('is on plan small, not medium')
    expect(broker.calls).toEqual([])
    expect((await bindService(broker, 'postgresql', {plan: 'small', ...fast})).instance.id).toBe('pg-1')
  })

  it('refuses a plan the service does not have, listing its plans', async () => {
    const broker = new FakeBroker()
    broker.add('pg-1', 'postgresql', 'postgresql', 'small')
    for (const ref of ['postgresql', 'pg-1', 'redis']) {
      const error = await bindService(broker, ref, {plan: 'nosuch', ...fast}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UsageError)
      expect((error as UsageError).hint).toBe('pick one of: small, medium')
    }
    expect(broker.calls).toEqual([])
  })

  it('waits for an instance that is still provisioning, with progress, instead of saying it does not exist', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small', 'provisioning')
    broker.pollsUntilReady = 3
    const progress: string[] = []
    const result = await bindService(broker, 'cache', {progress: (line) => progress.push(line), ...fast})
    expect(result.instance).toMatchObject({id: 'r-1', provisioned: false})
    expect(progress[0]).toBe('cache is still provisioning; waiting')
    expect(progress).toContain('provisioning r-1')
    expect(broker.calls).toEqual(['bind cache'])
  })

  it('refuses --name with an instance instead of silently ignoring it', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small')
    await expect(bindService(broker, 'cache', {name: 'other', ...fast})).rejects.toThrow(UsageError)
    expect(broker.calls).toEqual([])
  })

  it('does not bind an instance of another service under the name, nor one that failed', async () => {
    const broker = new FakeBroker()
    broker.add('pg-1', 'shared', 'postgresql', 'small')
    await expect(bindService(broker, 'redis', {name: 'shared', ...fast})).rejects.toThrow(
      'the instance named shared is a postgresql instance, not redis',
    )
    broker.add('r-9', 'broken', 'redis', 'small', 'failed')
    await expect(bindService(broker, 'broken', fast)).rejects.toThrow('broken (r-9) failed')
    expect(broker.calls).toEqual([])
  })

  it('when another bind took the name a moment before, removes its own instance and binds that one', async () => {
    const broker = new FakeBroker()
    broker.beforeProvision = () => {
      broker.beforeProvision = undefined
      broker.add('winner', 'redis', 'redis', 'small', 'provisioning')
    }
    const result = await bindService(broker, 'redis', fast)
    expect(result.instance).toMatchObject({id: 'winner', provisioned: false})
    expect(broker.calls[0]).toBe('provision redis/small redis')
    expect(broker.calls[1]).toMatch(/^deprovision /)
    expect(broker.calls[2]).toBe('bind redis')
    expect([...broker.instancesById.keys()]).toEqual(['winner'])
  })

  it('without admin credentials provisions an unnamed instance for a service, and refuses an instance name', async () => {
    const broker = new FakeBroker({url: 'http://fake', username: 'u', password: 'p'})
    const progress: string[] = []
    const result = await bindService(broker, 'redis', {progress: (line) => progress.push(line), ...fast})
    expect(result.instance).toMatchObject({name: null, provisioned: true})
    expect(broker.calls[0]).toBe('provision redis/small -')
    expect(progress[0]).toContain('no admin credentials')
    await expect(bindService(broker, 'cache', fast)).rejects.toBeInstanceOf(UsageError)
  })
})

describe('provision and unbind', () => {
  it('a taken --name is an error naming the instance that has it, and nothing is provisioned', async () => {
    const broker = new FakeBroker()
    broker.add('old-1', 'cache-lru', 'redis', 'small')
    const {service, plan} = resolvePlan(FAKE_CATALOG, 'redis')
    const error = await provisionInstance(broker, {service, plan, name: 'cache-lru', ...fast}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NameTakenError)
    expect((error as Error).message).toBe('an instance named cache-lru exists already (id old-1)')
    expect(broker.calls).toEqual([])
  })

  it('a --name taken during the provision leaves no unnamed instance behind', async () => {
    const broker = new FakeBroker()
    broker.beforeProvision = () => void broker.add('other', 'cache-lru', 'redis', 'small')
    const {service, plan} = resolvePlan(FAKE_CATALOG, 'redis')
    await expect(provisionInstance(broker, {service, plan, name: 'cache-lru', ...fast})).rejects.toThrow('(id other)')
    expect([...broker.instancesById.keys()]).toEqual(['other'])
  })

  it('unbinding a binding the instance does not have is an error listing its bindings', async () => {
    const broker = new FakeBroker()
    const bound = await bindService(broker, 'redis', fast)
    const error = await unbindBindings(broker, 'redis', {binding: 'nosuch'}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DbrokerError)
    expect((error as Error).message).toBe(`redis (${bound.instance.id}) has no binding nosuch`)
    expect((error as DbrokerError).hint).toBe(`its bindings: ${bound.binding.id}`)
    expect(broker.calls.filter((c) => c.startsWith('unbind'))).toEqual([])
    expect(await unbindBindings(broker, 'redis', {})).toEqual({
      instance: bound.instance.id,
      unbound: [bound.binding.id],
    })
  })

  it('listing the instances of an unknown service names it and the services there are', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small')
    broker.add('p-1', 'db', 'postgresql', 'small')
    expect((await listInstances(broker, {service: 'redis'})).map((i) => i.id)).toEqual(['r-1'])
    expect((await listInstances(broker, {service: 'postgresql-id'})).map((i) => i.id)).toEqual(['p-1'])
    const error = await listInstances(broker, {service: 'nosuch'}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DbrokerError)
    expect(error).not.toBeInstanceOf(UsageError)
    expect((error as Error).message).toBe('the catalog has no service nosuch')
    expect((error as DbrokerError).hint).toBe('pick one of: redis, postgresql')
  })
})
