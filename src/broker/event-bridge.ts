import type {ChangeEvent} from '../core/admin.js'
import type {Logger} from '../core/log.js'
import type {StoreChannel} from '../store/index.js'
import type {BrokerEvents} from './events.js'

/**
 * Joins the event streams of brokers that share a store: each local change is
 * published on the store's channel, and changes other brokers publish are
 * emitted here, so every broker's `/events` sees every change.
 */
export async function bridgeEvents(events: BrokerEvents, channel: StoreChannel, brokerId: string, log: Logger): Promise<() => void> {
  const relayed = new WeakSet<ChangeEvent>()
  const publish = (event: ChangeEvent) => {
    if (relayed.has(event)) return
    channel.publish(JSON.stringify({from: brokerId, event})).catch((error: Error) => log.warn(`cannot publish a change to the other brokers: ${error.message}`))
  }
  events.on('change', publish)
  await channel.subscribe((payload) => {
    let message: {from?: string; event?: ChangeEvent}
    try {
      message = JSON.parse(payload) as typeof message
    } catch {
      return
    }
    if (!message.event || message.from === brokerId) return
    relayed.add(message.event)
    events.emit('change', message.event)
  })
  return () => events.off('change', publish)
}
