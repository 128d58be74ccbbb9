import type {Kysely} from 'kysely'

// Several brokers on one store: each heartbeats its row so the others can take over its operations.
// Hosts announce their capacity and heartbeat interval.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('brokers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.alterTable('hosts').addColumn('max_containers', 'integer').execute()
  await db.schema.alterTable('hosts').addColumn('max_memory', 'bigint').execute()
  await db.schema.alterTable('hosts').addColumn('keepalive_ms', 'integer').execute()
  await db.schema.createIndex('operations_owner').on('operations').columns(['state', 'owner']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('operations_owner').execute()
  for (const column of ['keepalive_ms', 'max_memory', 'max_containers'])
    await db.schema.alterTable('hosts').dropColumn(column).execute()
  await db.schema.dropTable('brokers').execute()
}
