import type {Kysely} from 'kysely'

// Each host's own token (only its hash), and an address change the host asked for that waits for the operator.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('host_identities')
    .addColumn('host_id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
    .addColumn('pending', 'text')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('host_identities').execute()
}
