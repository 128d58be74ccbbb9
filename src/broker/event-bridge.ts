import type {ChangeEvent} from '../core/admin.js'
import type {Logger} from '../core/log.js'
import type {StoreChannel} from '../store/index.js'
import type {BrokerEvents} from './events.js'

interface Message {
  from?: string
  event?: ChangeEvent
  /** The sender could not publish some of its changes: refetch. */
  resync?: boolean
}

/**
 * Joins the event streams of brokers that share a store: each local change is
 * published on the store's channel, and changes other brokers publish are
 * emitted here, so every broker's `/events` sees every change. Changes lost
 * on the way (the channel reconnected, a publish failed) become a `resync`
 * event, on which screens refetch what they show.
 */
export async function bridgeEvents(
  events: BrokerEvents,
  channel: StoreChannel,
  brokerId: string,
  log: Logger,
  options: {retryMs?: number} = {},
): Promise<() => void> {
  const retryMs = options.retryMs ?? 1000
  const relayed = new WeakSet<ChangeEvent>()
  let closed = false
  let telling: NodeJS.Timeout | undefined

  const resync = (description: string) => {
    const event: ChangeEvent = {kind: 'resync', id: brokerId, action: 'resync', description, at: Date.now()}
    relayed.add(event)
    events.emit('change', event)
  }

  // The other brokers missed a change this one could not publish: once the channel takes notices again, they refetch.
  const tellOthers = () => {
    if (telling || closed) return
    const attempt = () => {
      channel.publish(JSON.stringify({from: brokerId, resync: true} satisfies Message)).then(
        () => (telling = undefined),
        () => {
          telling = closed ? undefined : setTimeout(attempt, retryMs)
          telling?.unref()
        },
      )
    }
    telling = setTimeout(attempt, retryMs)
    telling.unref()
  }

  const publish = (event: ChangeEvent) => {
    if (relayed.has(event)) return
    channel.publish(JSON.stringify({from: brokerId, event} satisfies Message)).catch((error: Error) => {
      log.warn(`cannot publish a change to the other brokers: ${error.message}`)
      tellOthers()
    })
  }
  events.on('change', publish)
  await channel.subscribe(
    (payload) => {
      let message: Message
      try {
        message = JSON.parse(payload) as Message
      } catch {
        return
      }
      if (message.from === brokerId) return
      if (message.resync) return resync(`broker ${message.from} could not send some of its changes`)
      if (!message.event) return
      relayed.add(message.event)
      events.emit('change', message.event)
    },
    () => {
      log.info('the channel between brokers listens again; screens refetch what they may have missed')
      resync('the channel between brokers reconnected: changes of other brokers may have been missed')
    },
  )
  return () => {
    closed = true
    clearTimeout(telling)
    events.off('change', publish)
  }
}
