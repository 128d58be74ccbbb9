import {afterEach, describe, expect, it, vi} from 'vitest'

import {bridgeEvents} from '../../src/broker/event-bridge.js'
import {BrokerEvents, type ChangeEvent} from '../../src/broker/events.js'
import {createLogger} from '../../src/core/log.js'
import type {StoreChannel} from '../../src/store/index.js'

/** The store's channel as every broker shares it; `down` makes each publish fail, as a lost database does. */
class Bus {
  down = false
  readonly listeners: Array<(payload: string) => void> = []

  channel(): StoreChannel {
    return {
      publish: async (payload) => {
        if (this.down) throw new Error('Connection terminated unexpectedly')
        for (const listener of this.listeners) queueMicrotask(() => listener(payload))
      },
      subscribe: async (listener) => {
        this.listeners.push(listener)
      },
      close: async () => undefined,
    }
  }
}

describe('a broker that cannot publish a change tells the other brokers to refetch once it can', () => {
  const offs: Array<() => void> = []
  afterEach(() => {
    for (const off of offs.splice(0)) off()
  })

  const broker = async (bus: Bus, id: string) => {
    const events = new BrokerEvents()
    const seen: ChangeEvent[] = []
    events.on('change', (event) => seen.push(event))
    offs.push(await bridgeEvents(events, bus.channel(), id, createLogger('silent'), {retryMs: 20}))
    return {events, seen, kinds: () => seen.map((e) => (e.kind === 'resync' ? 'resync' : e.id))}
  }

  it('the change lost while the store was away becomes one resync on the other broker, and later changes flow as before', async () => {
    const bus = new Bus()
    const a = await broker(bus, 'broker-a')
    const b = await broker(bus, 'broker-b')
    a.events.emitChange({kind: 'instance', id: 'i-1', action: 'provision', state: 'ready'})
    await vi.waitFor(() => expect(b.kinds()).toEqual(['i-1']))

    bus.down = true
    a.events.emitChange({kind: 'instance', id: 'i-lost', action: 'deprovision', state: 'gone'})
    a.events.emitChange({kind: 'instance', id: 'i-lost-too', action: 'deprovision', state: 'gone'})
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(b.kinds()).toEqual(['i-1'])

    bus.down = false
    await vi.waitFor(() => expect(b.kinds()).toEqual(['i-1', 'resync']))
    expect(b.seen[1].description).toMatch(/broker broker-a could not send some of its changes/)
    a.events.emitChange({kind: 'instance', id: 'i-2', action: 'provision', state: 'ready'})
    await vi.waitFor(() => expect(b.kinds()).toEqual(['i-1', 'resync', 'i-2']))
    // Resync events stay where they happen: none goes back to A.
    expect(a.kinds()).toEqual(['i-1', 'i-lost', 'i-lost-too', 'i-2'])
  })
})
