import {chmodSync, mkdtempSync, rmSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {bridgeEvents} from '../../src/broker/event-bridge.js'
import {type ChangeEvent, BrokerEvents} from '../../src/broker/events.js'
import {createLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {generateStoreKey} from '../../src/store/secrets.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const PORT = 44437

describe('two brokers on one PostgreSQL: a change sent while the LISTEN connection reconnects', () => {
  let dir: string
  let postgres: TestPostgres | undefined
  const stores: Store[] = []
  const unbridge: Array<() => void> = []
  const a = new BrokerEvents()
  const b = new BrokerEvents()
  const seenByB: ChangeEvent[] = []
  // Brokers on one PostgreSQL share the key its secrets are sealed with.
  const keys = [generateStoreKey()]

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/dbbridge-')
    chmodSync(dir, 0o755) // the postgres user walks through it
    postgres = startPostgres(path.join(dir, 'pg'), PORT)
    postgres.createDatabase('bridge')
    for (const [events, id] of [
      [a, 'broker-a'],
      [b, 'broker-b'],
    ] as const) {
      const store = await openStore(postgres.url('bridge'), {keys})
      stores.push(store)
      unbridge.push(await bridgeEvents(events, store.channel!, id, createLogger('silent')))
    }
    b.on('change', (event) => seenByB.push(event))
  })
  afterAll(async () => {
    for (const off of unbridge) off()
    for (const store of stores) await store.close()
    postgres?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  const change = (id: string) => a.emitChange({kind: 'instance', id, action: 'provision', state: 'ready'})
  const idsSeen = () => seenByB.map((e) => (e.kind === 'resync' ? 'resync' : e.id))

  it('reaches the other broker as a resync once it listens again, and changes after that arrive as before', async () => {
    change('i-before')
    await vi.waitFor(() => expect(idsSeen()).toEqual(['i-before']))

    // The database drops every LISTEN connection (a failover, a restart, an idle timeout).
    const dropped = postgres!.sql(
      `select count(pg_terminate_backend(pid)) from pg_stat_activity where query = 'LISTEN dbroker_changes'`,
      'bridge',
    )
    expect(Number(dropped)).toBe(2)
    change('i-during')

    await vi.waitFor(() => expect(idsSeen()).toContain('resync'), {timeout: 10_000, interval: 50})
    const resync = seenByB.find((e) => e.kind === 'resync')!
    expect(resync.description).toMatch(/reconnected: changes of other brokers may have been missed/)
    // Whatever of i-during got through, the resync comes after it was sent: a screen that refetches then misses nothing.
    expect(idsSeen().indexOf('resync')).toBeGreaterThan(idsSeen().indexOf('i-before'))

    change('i-after')
    await vi.waitFor(() => expect(idsSeen().at(-1)).toBe('i-after'))
    // A's own resync stays on A: B hears no echo of it.
    expect(idsSeen().filter((id) => id === 'resync')).toHaveLength(1)
  })
})
