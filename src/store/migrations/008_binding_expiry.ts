import type {Kysely} from 'kysely'

// A binding made with a ttl (context.dbroker_ttl_seconds) is unbound by the broker once expires_at passes.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('bindings').addColumn('expires_at', 'bigint').execute()
  await db.schema.createIndex('bindings_expires_at').on('bindings').column('expires_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('bindings_expires_at').execute()
  await db.schema.alterTable('bindings').dropColumn('expires_at').execute()
}
