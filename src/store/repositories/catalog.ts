import {type Db, readJson, touched, writeJson} from '../db.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

/** One service of the stored catalog; its definition is the catalog schema's output, sealed (it may hold passwords). */
export interface StoredService {
  id: string
  name: string
  definition: Record<string, unknown>
  /** 1 when added, one more with each update: what an update must name (compare-and-set). */
  version: number
  createdAt: number
  updatedAt: number
}

export interface CatalogState {
  /** One more with every change of any service: brokers reload when theirs is older. */
  generation: number
  /** The catalog file the store was seeded from on its first start. */
  seededFrom: string
}

const STATE_ROW = 1

export async function catalogState(db: Db): Promise<CatalogState | undefined> {
  const row = await db
    .selectFrom('catalog_state')
    .select(['generation', 'seeded_from'])
    .where('id', '=', STATE_ROW)
    .executeTakeFirst()
  return row && {generation: Number(row.generation), seededFrom: row.seeded_from}
}

export async function listServices(db: Db, secrets: SecretCipher): Promise<StoredService[]> {
  const rows = await db.selectFrom('catalog_services').selectAll().orderBy('position').execute()
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    definition: readJson(sealedRow(secrets, 'catalog_services', row.id).open('definition', row.definition)),
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }))
}

async function nextGeneration(db: Db, now: number): Promise<number> {
  await db
    .updateTable('catalog_state')
    .set((eb) => ({generation: eb('generation', '+', 1), updated_at: now}))
    .where('id', '=', STATE_ROW)
    .execute()
  return (await catalogState(db))!.generation
}

async function insertRow(
  db: Db,
  secrets: SecretCipher,
  service: {id: string; name: string; definition: unknown},
  position: number,
  version: number,
  createdAt: number,
  now: number,
): Promise<void> {
  await db
    .insertInto('catalog_services')
    .values({
      id: service.id,
      name: service.name,
      position,
      definition: sealedRow(secrets, 'catalog_services', service.id).seal('definition', writeJson(service.definition)),
      version,
      created_at: createdAt,
      updated_at: now,
    })
    .execute()
}

/**
 * The first start's catalog: stores `services` unless the store has a catalog
 * already (another broker seeded it first); true when this call seeded it.
 * Call inside a transaction.
 */
export async function seedCatalog(
  db: Db,
  secrets: SecretCipher,
  services: Array<{id: string; name: string; definition: unknown}>,
  file: string,
  now: number,
): Promise<boolean> {
  const claimed = await db
    .insertInto('catalog_state')
    .values({id: STATE_ROW, generation: 1, seeded_from: file, updated_at: now})
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst()
  if (Number(claimed.numInsertedOrUpdatedRows ?? 0) === 0) return false
  for (const [position, service] of services.entries()) await insertRow(db, secrets, service, position, 1, now, now)
  return true
}

/** Adds a service at the end of the catalog; the catalog's new generation. Call inside a transaction. */
export async function addService(
  db: Db,
  secrets: SecretCipher,
  service: {id: string; name: string; definition: unknown},
  now: number,
): Promise<number> {
  const last = await db
    .selectFrom('catalog_services')
    .select((eb) => eb.fn.max<number>('position').as('position'))
    .executeTakeFirst()
  await insertRow(db, secrets, service, Number(last?.position ?? -1) + 1, 1, now, now)
  return nextGeneration(db, now)
}

/**
 * Replaces service `id` at version `expected` (its id may change: the row goes
 * and comes back at the same place); undefined when the service is gone or at
 * another version. Call inside a transaction.
 */
export async function replaceService(
  db: Db,
  secrets: SecretCipher,
  id: string,
  expected: number,
  service: {id: string; name: string; definition: unknown},
  now: number,
): Promise<{version: number; generation: number} | undefined> {
  const row = await db
    .selectFrom('catalog_services')
    .select(['position', 'created_at'])
    .where('id', '=', id)
    .where('version', '=', expected)
    .executeTakeFirst()
  if (!row) return undefined
  await db.deleteFrom('catalog_services').where('id', '=', id).execute()
  await insertRow(db, secrets, service, Number(row.position), expected + 1, Number(row.created_at), now)
  return {version: expected + 1, generation: await nextGeneration(db, now)}
}

/** Removes service `id` (at version `expected` when given); the new generation, undefined when nothing matched. */
export async function removeService(
  db: Db,
  id: string,
  expected: number | undefined,
  now: number,
): Promise<number | undefined> {
  let query = db.deleteFrom('catalog_services').where('id', '=', id)
  if (expected !== undefined) query = query.where('version', '=', expected)
  if (!touched(await query.executeTakeFirst())) return undefined
  return nextGeneration(db, now)
}

/** The repository on one database or transaction, as the Store hands it out. */
export const catalogRepository = (db: Db, secrets: SecretCipher) => ({
  state: () => catalogState(db),
  list: () => listServices(db, secrets),
  seed: (services: Parameters<typeof seedCatalog>[2], file: string, now = Date.now()) =>
    seedCatalog(db, secrets, services, file, now),
  add: (service: Parameters<typeof addService>[2], now = Date.now()) => addService(db, secrets, service, now),
  replace: (id: string, expected: number, service: Parameters<typeof replaceService>[4], now = Date.now()) =>
    replaceService(db, secrets, id, expected, service, now),
  remove: (id: string, expected?: number, now = Date.now()) => removeService(db, id, expected, now),
})

export type CatalogRepository = ReturnType<typeof catalogRepository>
