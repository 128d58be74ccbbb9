import type {Kysely} from 'kysely'

// Manifest deploys: one row per deployment (its manifest as given) and one per container it places on a host.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('deployments')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('file', 'text', (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('deployment_containers')
    .addColumn('instance_id', 'text', (c) => c.primaryKey())
    .addColumn('deployment', 'text', (c) => c.notNull().references('deployments.name'))
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('deployment_containers_host').on('deployment_containers').column('host_id').execute()
  await db.schema
    .createIndex('deployment_containers_deployment')
    .on('deployment_containers')
    .column('deployment')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['deployment_containers', 'deployments']) await db.schema.dropTable(table).execute()
}
