import {type ChildProcess, spawn} from 'node:child_process'

import {describe, expect, it, vi} from 'vitest'

import {bindService, parseTtl, reusableBinding} from '../../src/cli/services/bind.js'
import {clientCommand, clientOf, connectInstance, printedCommand} from '../../src/cli/services/connect.js'
import {keyPrefixNote} from '../../src/cli/services/credentials.js'
import {eventLine} from '../../src/cli/event-line.js'
import {
  type EventSource,
  type EventStreamItem,
  followEvents,
  instanceNames,
  recentShown,
  repeatedHostUpdates,
} from '../../src/cli/services/events.js'
import {updateInstance} from '../../src/cli/services/update.js'
import type {ChangeEvent, InstanceView} from '../../src/core/admin.js'
import {DbrokerError, UsageError} from '../../src/core/errors.js'
import {FakeBroker} from '../helpers/fake-broker.js'

const fast = {wait: {intervalMs: 1}}

describe('dbroker update', () => {
  it('patches the plan and parameters and waits for the update; refuses an unknown plan naming the plans there are', async () => {
    const broker = new FakeBroker()
    broker.add('pg-1', 'orders', 'postgresql', 'small')
    const services = await broker.catalog()
    services[1].plans[0].plan_updateable = true
    const done = await updateInstance(broker, 'orders', {plan: 'medium', parameters: {x: 1}, ...fast})
    expect(done).toMatchObject({state: 'succeeded', plan: 'medium', previousPlan: 'small'})
    expect(broker.calls).toEqual(['update pg-1 postgresql-medium {"x":1}'])
    await expect(updateInstance(broker, 'orders', {plan: 'nosuch'})).rejects.toThrow(/postgresql has no plan nosuch/)
    await expect(updateInstance(broker, 'orders', {plan: 'nosuch'})).rejects.toMatchObject({
      hint: 'pick one of: small, medium',
    })
    delete services[1].plans[0].plan_updateable
  })

  it('says a plan that is not updatable, a busy instance, and nothing to update, before sending anything', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small')
    await expect(updateInstance(broker, 'cache', {plan: 'medium'})).rejects.toThrow(
      /plan small of redis is not updatable/,
    )
    await expect(updateInstance(broker, 'cache', {})).rejects.toBeInstanceOf(UsageError)
    broker.instancesById.get('r-1')!.state = 'updating'
    await expect(updateInstance(broker, 'cache', {parameters: {a: 1}})).rejects.toThrow(
      /cache \(r-1\) is busy \(updating\)/,
    )
    expect(broker.calls).toEqual([])
  })
})

describe('bind --ttl and --reuse', () => {
  it('reads s, m, h and d, and names the flag for anything else', () => {
    expect([parseTtl('2s'), parseTtl('10m'), parseTtl('1h'), parseTtl('2d')]).toEqual([2, 600, 3600, 172_800])
    for (const bad of ['', '1', '0s', '1w', '-1h', 'h'])
      expect(() => parseTtl(bad)).toThrow(/--ttl .* is not a duration/)
  })

  it('hands out the caller’s own binding again instead of piling up new ones, and a fresh one once it is about to expire', async () => {
    vi.useFakeTimers({toFake: ['Date']})
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small')
    const first = await bindService(broker, 'cache', {reuse: true, ttlSeconds: 3600, ...fast})
    const again = await Promise.all([1, 2, 3].map(() => bindService(broker, 'cache', {reuse: true, ...fast})))
    expect(first.binding.reused).toBe(false)
    expect(again.map((r) => [r.binding.id, r.binding.reused, r.credentials.uri])).toEqual(
      again.map(() => [first.binding.id, true, first.credentials.uri]),
    )
    expect(broker.instancesById.get('r-1')!.bindings).toHaveLength(1)
    vi.setSystemTime(Date.now() + 3600_000 - 30_000) // half a minute left: not worth handing out
    const fresh = await bindService(broker, 'cache', {reuse: true, ttlSeconds: 3600, ...fast})
    vi.useRealTimers()
    expect(fresh.binding).toMatchObject({reused: false})
    expect(broker.instancesById.get('r-1')!.bindings).toHaveLength(2)
  })

  it('--reuse --ttl hands out only a binding with half that ttl left, and says why it makes a new one', async () => {
    vi.useFakeTimers({toFake: ['Date']})
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small')
    const said: string[] = []
    const progress = (line: string) => said.push(line)
    const forever = await bindService(broker, 'cache', {...fast})
    // A binding that never expires is not what --ttl asks for: the broker must unbind what this prints.
    const timed = await bindService(broker, 'cache', {reuse: true, ttlSeconds: 3600, progress, ...fast})
    expect(timed.binding).toMatchObject({reused: false})
    expect(timed.binding.expiresAt).not.toBeNull()
    expect(said.join('\n')).toContain(
      `your binding ${forever.binding.id} of cache never expires, not what --ttl 1h asks`,
    )
    vi.setSystemTime(Date.now() + 20 * 60_000) // 40 minutes left of 1 h: more than half
    const kept = await bindService(broker, 'cache', {reuse: true, ttlSeconds: 3600, progress, ...fast})
    expect(kept.binding).toMatchObject({id: timed.binding.id, reused: true})
    expect(said.at(-1)).toContain(`reusing binding ${timed.binding.id} of cache (expires in 40m)`)
    // --ttl 2h asks for at least an hour: 40 minutes is not enough.
    const longer = await bindService(broker, 'cache', {reuse: true, ttlSeconds: 7200, progress, ...fast})
    vi.useRealTimers()
    expect(longer.binding.reused).toBe(false)
    expect(said.join('\n')).toContain('expires in 40m, not what --ttl 2h asks: making a new one')
  })

  it("never reuses another user's binding, or one that is not bound", () => {
    const view = (id: string, owner: string, state = 'bound') => ({
      id,
      state,
      appGuid: null,
      createdAt: 0,
      context: {dbroker_owner: owner},
      expiresAt: null,
      credentials: {uri: id},
    })
    expect(reusableBinding([view('a', 'eve@box'), view('b', 'me@box', 'unbinding')], 'me@box', 1)).toBeUndefined()
    expect(reusableBinding([view('a', 'eve@box'), view('c', 'me@box')], 'me@box', 1)?.id).toBe('c')
  })
})

describe('dbroker connect', () => {
  const credentials = {host: '127.0.0.1', port: 42001, username: 'b1', password: 's3cret-pw', database: 'db1'}

  it('passes the password only in the environment, never in the arguments, for every client', () => {
    for (const program of ['redis-cli', 'psql', 'mariadb'] as const) {
      const command = clientCommand(program, credentials)
      expect(command.args.join(' ')).not.toContain('s3cret-pw')
      expect(Object.values(command.env)).toEqual(['s3cret-pw'])
    }
    expect(clientCommand('redis-cli', credentials).env).toEqual({REDISCLI_AUTH: 's3cret-pw'})
    expect(clientCommand('psql', credentials).args).toEqual(['-h', '127.0.0.1', '-p', '42001', '-U', 'b1', '-d', 'db1'])
  })

  it('--print is a line with $CONNECT_PASSWORD, and a plan without a client says so', () => {
    const line = printedCommand({id: 'r-1', name: 'cache', client: 'redis-cli', service: 'redis', plan: 'small'})
    expect(line).toBe(
      'eval "$(dbroker bind cache --reuse --ttl 1h --format env --prefix CONNECT)" && REDISCLI_AUTH="$CONNECT_PASSWORD" redis-cli -h "$CONNECT_HOST" -p "$CONNECT_PORT" --user "$CONNECT_USERNAME"',
    )
    expect(() => clientOf({client: null, service: 'kv', plan: 'tiny'})).toThrow(/plan tiny of kv names no client/)
    expect(() => clientOf({client: null, service: 'kv', plan: 'tiny'})).toThrow(DbrokerError)
  })

  /** A client that runs `script` (node resets the signal dispositions a test runner may have left ignored). */
  const session = async (broker: FakeBroker, script: string, signal?: NodeJS.Signals) => {
    let child: ChildProcess | undefined
    const connected = connectInstance(broker, (await broker.findInstance('cache'))!, {
      start: (command) => {
        child = spawn(process.execPath, ['-e', script], {env: {...process.env, ...command.env}, stdio: 'ignore'})
        if (signal) child.once('spawn', () => process.emit(signal, signal))
        return child
      },
    })
    return connected
  }

  it('unbinds when the client exits, and answers its exit code', async () => {
    const broker = new FakeBroker()
    broker.add('r-1', 'cache', 'redis', 'small').client = 'redis-cli'
    const result = await session(broker, 'process.exit(process.env.REDISCLI_AUTH.startsWith("pw-") ? 7 : 3)')
    expect(result).toMatchObject({exitCode: 7, unbound: true})
    expect(broker.calls).toEqual(['bind cache', `unbind ${result.binding}`])
    expect(broker.instancesById.get('r-1')!.bindings).toEqual([])
  })

  it("on a shared redis plan, says before the client starts that keys must start with the binding's key_prefix", async () => {
    const broker = new FakeBroker()
    const shared = broker.add('r-1', 'cache', 'redis', 'small')
    shared.client = 'redis-cli'
    shared.kind = 'shared'
    broker.namespaces.set('r-1', {key_prefix: 'i-5b7c0a11:'})
    const said: string[] = []
    let started = -1
    await connectInstance(broker, (await broker.findInstance('cache'))!, {
      progress: (line) => said.push(line),
      start: () => {
        started = said.length
        return spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
      },
    })
    const note = said.findIndex((l) => l.includes('keys must start with i-5b7c0a11:'))
    expect(note).toBeGreaterThanOrEqual(0)
    expect(note).toBeLessThan(started)
    expect(said[note]).toBe(
      "keys must start with i-5b7c0a11: — the binding's ACL allows only ~i-5b7c0a11:* (e.g. SET i-5b7c0a11:greeting hello)",
    )
    const line = printedCommand({
      id: 'r-1',
      name: 'cache',
      client: 'redis-cli',
      service: 'redis',
      plan: 'shared',
      kind: 'shared',
    })
    expect(line).toContain('echo "keys must start with $CONNECT_KEY_PREFIX')
    expect(line.indexOf('echo')).toBeLessThan(line.indexOf('redis-cli'))
  })

  it('bind says the key prefix on stderr too; a dedicated instance has none to say', () => {
    expect(keyPrefixNote({key_prefix: 'i-1:'})).toMatch(/^keys must start with i-1:/)
    expect(keyPrefixNote({username: 'default'})).toBeUndefined()
  })

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`passes ${signal} on to the client and unbinds once it ended`, async () => {
      const broker = new FakeBroker()
      broker.add('r-1', 'cache', 'redis', 'small').client = 'redis-cli'
      const before = process.listenerCount(signal)
      const result = await session(broker, 'setTimeout(() => {}, 30_000)', signal)
      expect(result.exitCode).toBeGreaterThan(128)
      expect(result.unbound).toBe(true)
      expect(broker.instancesById.get('r-1')!.bindings).toEqual([])
      expect(process.listenerCount(signal)).toBe(before)
    })
  }
})

describe('dbroker events -f', () => {
  const event = (id: string, at: number): ChangeEvent => ({kind: 'instance', id, action: 'update', at})

  /** A broker whose stream gives `live` after opening, then ends (as a broker stopping). */
  const source = (recent: ChangeEvent[][], live: ChangeEvent[][]): EventSource & {opened: number} => {
    const s = {
      opened: 0,
      recentEvents: async (limit?: number) => {
        const all = recent[Math.max(0, Math.min(s.opened - 1, recent.length - 1))]
        return limit === undefined ? all : all.slice(-limit)
      },
      async *events(_signal?: AbortSignal, onOpen?: () => void) {
        s.opened++
        onOpen?.()
        yield* live[s.opened - 1] ?? []
      },
    }
    return s
  }

  const collect = async (items: AsyncIterable<EventStreamItem>, max = 20) => {
    const out: string[] = []
    for await (const item of items) {
      out.push(item.kind === 'event' ? item.event.id : item.kind)
      if (out.length >= max) break
    }
    return out
  }

  it('prints the last N, then each live change once (also one that was in both), and ends with interrupted', async () => {
    const a = event('a', 1)
    const b = event('b', 2)
    const c = event('c', 3)
    const items = followEvents(source([[a, b]], [[b, c]]), {limit: 1, retry: false})
    expect(await collect(items)).toEqual(['b', 'c', 'interrupted'])
  })

  it('with retry reconnects, says resumed, and gives what happened meanwhile without repeating', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id, i) => event(id, i + 1))
    const items = followEvents(source([[a], [a, b, c]], [[b], [d]]), {limit: 5, retry: true, retryDelayMs: 1})
    expect(await collect(items, 7)).toEqual(['a', 'b', 'interrupted', 'resumed', 'c', 'd', 'interrupted'])
  })

  it('-n counts the lines shown: heartbeats left out are not among the N, before or while following', async () => {
    const beat = (at: number): ChangeEvent => ({kind: 'host', id: 'h1', action: 'update', state: 'alive', at})
    const recent = [event('a', 1), beat(2), event('b', 3), beat(4), beat(5), beat(6), event('c', 7), beat(8)]
    const repeated = repeatedHostUpdates()
    const shown = (e: ChangeEvent) => !repeated(e)
    // Of the last 3 changes two are repeated heartbeats: 3 lines are the first heartbeat, b and c.
    expect((await recentShown(source([recent], []), 3, shown)).map((e) => e.id)).toEqual(['h1', 'b', 'c'])
    expect(await recentShown(source([recent], []), 0, shown)).toEqual([])
    const again = repeatedHostUpdates()
    const followed = followEvents(source([recent], [[beat(9), event('d', 10)]]), {
      limit: 2,
      retry: false,
      shown: (e) => !again(e),
    })
    expect(await collect(followed)).toEqual(['b', 'c', 'd', 'interrupted'])
  })

  it('names instances in its lines where the broker knows the name, and asks again for one it has not seen', async () => {
    const instances = [{id: '3f760b4d-034b-4c81-af2c-ab5d5ed46b65', name: 'orders-db'}] as InstanceView[]
    let asked = 0
    const names = await instanceNames({instances: async () => (asked++, instances)})
    const bound: ChangeEvent = {kind: 'binding', id: 'b-1', instanceId: instances[0].id, action: 'bind', at: 0}
    expect(eventLine(bound, names.nameOf)).toBe('1970-01-01 00:00:00 binding   b-1 (of orders-db) bind')
    const fresh = 'aaaaaaaa-034b-4c81-af2c-ab5d5ed46b65'
    instances.push({id: fresh, name: 'cache'} as InstanceView)
    await names.learn({kind: 'instance', id: fresh, action: 'provision', at: 0})
    await names.learn({kind: 'instance', id: fresh, action: 'provision', at: 0})
    expect(asked).toBe(2)
    expect(eventLine({kind: 'instance', id: fresh, action: 'provision', state: 'ready', at: 0}, names.nameOf)).toBe(
      '1970-01-01 00:00:00 instance  cache provision -> ready',
    )
  })

  it('reads as a line with short ids, and leaves out host heartbeats that change nothing', () => {
    const id = '3f760b4d-034b-4c81-af2c-ab5d5ed46b65'
    expect(
      eventLine({kind: 'operation', id: `update-${id}`, instanceId: id, action: 'update', state: 'succeeded', at: 0}),
    ).toBe('1970-01-01 00:00:00 operation update-3f760b4d (of 3f760b4d) update -> succeeded')
    const repeated = repeatedHostUpdates()
    const host = (action: string, state: string) => ({kind: 'host' as const, id: 'h1', action, state, at: 0})
    expect(
      [host('update', 'alive'), host('update', 'alive'), host('dead', 'dead'), host('update', 'alive')].map(repeated),
    ).toEqual([false, true, false, false])
  })

  it('throws when the broker is never reached, rather than waiting', async () => {
    const never: EventSource = {
      recentEvents: async () => [],
      // eslint-disable-next-line require-yield
      async *events() {
        throw new DbrokerError('cannot reach the broker')
      },
    }
    await expect(collect(followEvents(never, {limit: 5, retry: true}))).rejects.toThrow(/cannot reach/)
  })
})
