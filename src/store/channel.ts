import type pg from 'pg'

import type {StoreChannel} from './store.js'

const CHANNEL = 'dbroker_changes'
const RECONNECT_MS = 1000

/**
 * LISTEN/NOTIFY on one dedicated connection. A lost connection is made again,
 * and the subscribers are told once it listens again: the notices sent
 * meanwhile are lost, so they refetch what they show.
 */
export class PgChannel implements StoreChannel {
  private client: pg.Client | undefined
  private readonly listeners: Array<(payload: string) => void> = []
  private readonly reconnected: Array<() => void> = []
  private closed = false
  private connecting: Promise<void> | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly connect: () => pg.Client,
  ) {}

  async publish(payload: string): Promise<void> {
    await this.pool.query('select pg_notify($1, $2)', [CHANNEL, payload])
  }

  async subscribe(listener: (payload: string) => void, onReconnect?: () => void): Promise<void> {
    this.listeners.push(listener)
    if (onReconnect) this.reconnected.push(onReconnect)
    this.connecting ??= this.listen()
    await this.connecting
  }

  private async listen(): Promise<void> {
    const client = this.connect()
    client.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload !== undefined)
        for (const listener of this.listeners) listener(message.payload)
    })
    client.on('error', () => this.reconnect(client))
    client.on('end', () => this.reconnect(client))
    try {
      await client.connect()
      await client.query(`LISTEN ${CHANNEL}`)
    } catch (error) {
      await client.end().catch(() => undefined)
      throw error
    }
    if (this.closed) await client.end().catch(() => undefined)
    else this.client = client
  }

  private reconnect(lost: pg.Client): void {
    if (this.closed || this.client !== lost) return
    this.client = undefined
    const retry = () => {
      if (this.closed) return
      this.listen()
        .then(() => {
          for (const onReconnect of this.reconnected) onReconnect()
        })
        .catch(() => setTimeout(retry, RECONNECT_MS).unref())
    }
    setTimeout(retry, RECONNECT_MS).unref()
  }

  async close(): Promise<void> {
    this.closed = true
    await this.client?.end().catch(() => undefined)
  }
}
