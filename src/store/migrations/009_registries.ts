import type {Kysely} from 'kysely'

// The registry settings the operator wants per host (`*`: every host without its own) and the logins for private registries.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('host_registry_settings')
    .addColumn('host_id', 'text', (c) => c.primaryKey())
    .addColumn('mirrors', 'text', (c) => c.notNull())
    .addColumn('insecure', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('registry_logins')
    .addColumn('registry', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('password', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['registry_logins', 'host_registry_settings']) await db.schema.dropTable(table).execute()
}
