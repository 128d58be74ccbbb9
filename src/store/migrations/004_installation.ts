import {randomBytes} from 'node:crypto'

import type {Kysely} from 'kysely'

// One random id per installation (a store and the brokers on it), made once: every container and volume
// carries it, so two installations on one engine never act on each other's.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('installation')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute()
  await (db as Kysely<{installation: {id: string; created_at: number}}>)
    .insertInto('installation')
    .values({id: randomBytes(6).toString('hex'), created_at: Date.now()})
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('installation').execute()
}
