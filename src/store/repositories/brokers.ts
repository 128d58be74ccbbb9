import type {Insertable, Selectable} from 'kysely'

import type {Db} from '../db.js'
import type {BrokersTable} from '../schema.js'

export type BrokerRow = Selectable<BrokersTable>
export type NewBrokerRow = Insertable<BrokersTable>

/** A broker on a shared store, as its lease beats record it. */
export interface BrokerLease {
  id: string
  url: string | null
  startedAt: number
  heartbeatAt: number
}

export const toBrokerLease = (row: BrokerRow): BrokerLease => ({
  id: row.id,
  url: row.url,
  startedAt: Number(row.started_at),
  heartbeatAt: Number(row.heartbeat_at),
})

/** Renews a broker's lease, taking it on the first beat. */
export async function brokerHeartbeat(db: Db, id: string, url: string | null, now: number): Promise<void> {
  const row: NewBrokerRow = {id, url, started_at: now, heartbeat_at: now}
  await db
    .insertInto('brokers')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({url, heartbeat_at: now}))
    .execute()
}

export async function listBrokers(db: Db): Promise<BrokerLease[]> {
  return (await db.selectFrom('brokers').selectAll().orderBy('id').execute()).map(toBrokerLease)
}

export async function removeBroker(db: Db, id: string): Promise<void> {
  await db.deleteFrom('brokers').where('id', '=', id).execute()
}
