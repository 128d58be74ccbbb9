import type {Kysely} from 'kysely'

// Users made ahead of time in an instance's service, so a bind hands one out without waiting for an exec.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('spare_users')
    .addColumn('username', 'text', (c) => c.primaryKey())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('password', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('spare_users_instance').on('spare_users').columns(['instance_id', 'created_at']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('spare_users').execute()
}
