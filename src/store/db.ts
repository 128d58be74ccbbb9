import type {Kysely, Transaction} from 'kysely'

import type {Database} from './schema.js'

/** What every repository function takes: the database, or a transaction on it, so the same function composes inside one. */
export type Db = Kysely<Database> | Transaction<Database>

/** Runs `work` in the transaction `db` already is, or in a new one. */
export function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : (db as Kysely<Database>).transaction().execute(work)
}

/** JSON lives in text columns (schema.ts): one encoding for SQLite and PostgreSQL. */
export const writeJson = (value: unknown): string => JSON.stringify(value ?? null)

export const readJson = <T>(text: string | null): T => (text === null ? (null as T) : (JSON.parse(text) as T))

/** True when an update or delete touched a row: the guard of every compare-and-set in the store. */
export const touched = (result: {numUpdatedRows?: bigint; numDeletedRows?: bigint}): boolean =>
  Number(result.numUpdatedRows ?? result.numDeletedRows ?? 0) > 0

/** How many rows of a table each host has: its instances, or its ports in use. */
export async function countPerHost(db: Db, table: 'instances' | 'ports'): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom(table)
    .select((eb) => ['host_id', eb.fn.countAll<number>().as('n')])
    .groupBy('host_id')
    .execute()
  return new Map(rows.map((r) => [r.host_id, Number(r.n)]))
}
