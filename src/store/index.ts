import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {Kysely, PostgresDialect, SqliteDialect} from 'kysely'

import {DbrokerError} from '../core/errors.js'
import {PgChannel} from './channel.js'
import type {Database} from './schema.js'
import {Store} from './store.js'

export * as hostIdentities from './host-identities.js'
export {PortRangeFullError, Store, type StoreChannel, type StoredBinding, type StoredInstance} from './store.js'

/**
 * Opens and migrates a store. `url` is `sqlite:PATH` (or a bare path) for the
 * embedded store, or `postgres://...` for one shared by several brokers.
 */
export async function openStore(url: string): Promise<Store> {
  const store = url.startsWith('postgres://') || url.startsWith('postgresql://') ? await openPostgres(url) : await openSqlite(url)
  await store.migrate()
  return store
}

async function openSqlite(url: string): Promise<Store> {
  const file = url.replace(/^sqlite:/, '')
  if (file !== ':memory:') mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  const {default: SQLite} = await import('better-sqlite3')
  let database
  try {
    database = new SQLite(file)
  } catch (error) {
    throw new DbrokerError(`cannot open the store at ${file}: ${(error as Error).message}`)
  }
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = NORMAL')
  database.pragma('busy_timeout = 5000')
  database.pragma('foreign_keys = ON')
  return new Store(new Kysely<Database>({dialect: new SqliteDialect({database})}), 'sqlite')
}

async function openPostgres(url: string): Promise<Store> {
  const {default: pg} = await import('pg')
  pg.types.setTypeParser(20, (value: string) => Number(value))
  const pool = new pg.Pool({connectionString: url, max: 10})
  const store = new Store(new Kysely<Database>({dialect: new PostgresDialect({pool})}), 'postgres')
  store.channel = new PgChannel(pool, () => new pg.Client({connectionString: url}))
  return store
}

/** True for a primary-key or unique violation in either dialect: another request won the race. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as {code?: string} | undefined)?.code
  return code === '23505' || (typeof code === 'string' && (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE'))
}
