import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {formatCredentials} from '../../src/cli/services/credentials.js'
import {withoutFlags} from '../../src/cli/services/detached-up.js'
import {
  deprovisionInstance,
  instanceByRef,
  nearNames,
  operationFailed,
  removeAllInstances,
  waitForOperation,
} from '../../src/cli/services/instances.js'
import {parseParameters} from '../../src/cli/services/parameters.js'
import {UsageError} from '../../src/core/errors.js'
import {FakeBroker} from '../helpers/fake-broker.js'

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, {recursive: true, force: true})
  dir = undefined
})

describe('waiting for an operation', () => {
  it('reports each new description once and answers the final state', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small', 'provisioning')
    broker.pollsUntilReady = 4
    const progress: string[] = []
    expect(
      await waitForOperation(broker, 'r-1', undefined, {intervalMs: 1, progress: (l) => progress.push(l)}),
    ).toEqual({state: 'succeeded'})
    expect(progress).toEqual(['provisioning r-1'])
  })

  it('gives up at its deadline with an error that says where to follow it', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small', 'provisioning')
    broker.pollsUntilReady = Infinity
    await expect(waitForOperation(broker, 'r-1', undefined, {intervalMs: 5, timeoutMs: 20})).rejects.toThrow(
      'r-1 is still in progress after 0 s',
    )
  })

  it('deprovision waits until the instance is gone; --async returns at once', async () => {
    const broker = new FakeBroker()
    const a = broker.add('a', 'a', 'redis', 'small')
    const b = broker.add('b', 'b', 'redis', 'small')
    expect(await deprovisionInstance(broker, a, {intervalMs: 1})).toEqual({id: 'a', name: 'a', state: 'succeeded'})
    expect(broker.instancesById.has('a')).toBe(false)
    expect(await deprovisionInstance(broker, b, {async: true})).toEqual({id: 'b', name: 'b', state: 'in progress'})
    expect(broker.instancesById.get('b')?.state).toBe('deprovisioning')
  })

  it('removing every instance reports each one', async () => {
    const broker = new FakeBroker()
    broker.add('a', 'a', 'redis', 'small')
    broker.add('b', null, 'postgresql', 'small')
    const progress: string[] = []
    const result = await removeAllInstances(broker, (l) => progress.push(l))
    expect(result.removed.sort()).toEqual(['a', 'b'])
    expect(result.failures).toEqual([])
    expect(progress.sort()).toEqual(['deprovisioned a', 'deprovisioned b'])
  })
})

describe('parameters, credentials and argv', () => {
  it('-c takes JSON or @file, and anything else is a usage error', () => {
    const made = mkdtempSync(path.join(tmpdir(), 'dbroker-params-'))
    dir = made
    writeFileSync(path.join(made, 'p.json'), '{"maxmemory_policy":"allkeys-lru"}')
    expect(parseParameters('{"a":1}')).toEqual({a: 1})
    expect(parseParameters(`@${path.join(made, 'p.json')}`)).toEqual({maxmemory_policy: 'allkeys-lru'})
    expect(() => parseParameters('[1]')).toThrow(UsageError)
    expect(() => parseParameters('{nope')).toThrow('-c must be a JSON object or @file with one')
    expect(() => parseParameters(`@${path.join(made, 'missing.json')}`)).toThrow('ENOENT')
  })

  it('env and dotenv quote what a shell or a dotenv parser would read otherwise', () => {
    const credentials = {uri: "redis://u:it's$x@h:1", host: 'h', port: 1, username: 'u', password: 'it\'s"$x'}
    expect(formatCredentials(credentials, 'env', 'orders-db')).toContain(`export ORDERS_DB_PASSWORD='it'\\''s"$x'\n`)
    expect(formatCredentials(credentials, 'dotenv', 'redis')).toContain('REDIS_PASSWORD="it\'s\\"$x"\n')
    expect(formatCredentials(credentials, 'uri', 'redis')).toBe("redis://u:it's$x@h:1\n")
  })

  it("env carries a shared redis plan's key prefix, without which the binding can touch no key", () => {
    const credentials = {host: 'h', port: 1, username: 'u', password: 'p', key_prefix: 'i3d99:'}
    expect(formatCredentials(credentials, 'env', 'redis')).toContain("export REDIS_KEY_PREFIX='i3d99:'\n")
    expect(formatCredentials(credentials, 'dotenv', 'redis')).toContain('REDIS_KEY_PREFIX="i3d99:"\n')
  })

  it('up --detach passes its own arguments on without --detach, --json and the secrets', () => {
    const argv = [
      '--detach',
      '--port',
      '9',
      '--password',
      's3cret',
      '--admin-password=t0p',
      '--json',
      '--data-dir',
      'x',
      '--keepalive',
      '1',
    ]
    expect(
      withoutFlags(
        argv,
        ['--detach', '-d', '--json'],
        ['--detach-timeout', '--data-dir', '--password', '--admin-password'],
      ),
    ).toEqual(['--port', '9', '--keepalive', '1'])
  })
})

describe('a failure the broker keeps the engine out of', () => {
  const description =
    'provision failed: the host could not create the container; see the broker log, operation provision-1234'

  it("says where the broker's log is: the context's up.log, with the grep that finds the operation", async () => {
    const broker = new FakeBroker({url: 'http://fake', adminUsername: 'a', adminPassword: 'b', logFile: '/data/up.log'})
    broker.add('r-1', 'cache', 'redis', 'small', 'ready')
    broker.failWith = description
    await expect(
      deprovisionInstance(broker, (await broker.findInstance('cache'))!, {intervalMs: 1}),
    ).rejects.toMatchObject({
      message: `deprovisioning cache (r-1) failed: ${description}`,
      hint: "the engine's words are in the broker's log: `grep provision-1234 /data/up.log`",
    })
    const remote = new FakeBroker()
    expect(operationFailed(remote, 'provisioning redis', description).hint).toBe(
      "the engine's words are in the broker's log (its stderr), under provision-1234",
    )
    expect(operationFailed(remote, 'provisioning redis', 'provision failed: exited with code 1').hint).toBeUndefined()
  })
})

describe('NAME|ID arguments take a unique id prefix', () => {
  it('a unique prefix finds its instance; an ambiguous one lists the candidates; none is a clear error', async () => {
    const broker = new FakeBroker()
    broker.add('5b7c0a11-0000-4000-8000-000000000001', 'cache', 'redis', 'small', 'ready')
    broker.add('5b7c0a22-0000-4000-8000-000000000002', 'orders', 'redis', 'small', 'ready')
    expect((await instanceByRef(broker, '5b7c0a1')).name).toBe('cache')
    expect((await instanceByRef(broker, 'orders')).id).toBe('5b7c0a22-0000-4000-8000-000000000002')
    await expect(instanceByRef(broker, '5b7c')).rejects.toThrow(
      '5b7c is the start of 2 instance ids: cache (5b7c0a11-0000-4000-8000-000000000001), orders (5b7c0a22-0000-4000-8000-000000000002)',
    )
    await expect(instanceByRef(broker, 'ffff')).rejects.toThrow('no instance has the id or name ffff')
  })

  it('a mistyped name suggests the instance names near it, the nearest first (show, connect, bind, deprovision…)', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small', 'ready')
    broker.add('r-2', 'caches', 'redis', 'small', 'ready')
    broker.add('p-1', 'orders', 'postgresql', 'small', 'ready')
    await expect(instanceByRef(broker, 'cahce')).rejects.toMatchObject({
      message: 'no instance has the id or name cahce',
      hint: 'did you mean cache? (list them with `dbroker instances`)',
    })
    await expect(instanceByRef(broker, 'ordres')).rejects.toMatchObject({
      hint: expect.stringMatching(/^did you mean orders\?/),
    })
    await expect(instanceByRef(broker, 'zzzzzz')).rejects.toMatchObject({hint: 'list them with `dbroker instances`'})
  })

  it('near names: within two edits, or one inside the other, closest first, at most five', () => {
    expect(nearNames('cahce', ['orders', 'caches', 'cache', 'shop/cache'])).toEqual(['cache', 'shop/cache'])
    expect(nearNames('cach', ['orders', 'caches', 'cache'])).toEqual(['cache', 'caches'])
    expect(nearNames('shop', ['shop-cache', 'orders'])).toEqual(['shop-cache'])
    expect(nearNames('db', ['db-1', 'db-2', 'db-3', 'db-4', 'db-5', 'db-6', 'web'])).toHaveLength(5)
    expect(nearNames('x', [])).toEqual([])
  })
})
