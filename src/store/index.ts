import {chmodSync, closeSync, existsSync, mkdirSync, openSync} from 'node:fs'
import path from 'node:path'

import {Kysely, PostgresDialect, SqliteDialect} from 'kysely'

import {DbrokerError} from '../core/errors.js'
import {PgChannel} from './channel.js'
import type {Db} from './db.js'
import * as identities from './repositories/host-identities.js'
import type {Database} from './schema.js'
import {checkStoreKey} from './sealed-columns.js'
import {
  dataDirStoreKeys,
  generateStoreKey,
  parseStoreKeys,
  readStoreKeyFile,
  SecretCipher,
  STORE_KEY_ENV,
  type StoreKey,
  StoreKeyError,
} from './secrets.js'
import {Store} from './store.js'

export {PortRangeFullError, Store, type StoreChannel, type StoredBinding, type StoredInstance} from './store.js'
export {StoreKeyError} from './secrets.js'

/** A repository function on a store's database, for callers that hold the store. */
const onStore =
  <A extends unknown[], R>(query: (db: Db, ...args: A) => R) =>
  (store: Store, ...args: A): R =>
    query(store.db, ...args)

/** Host enrollment (repositories/host-identities.ts) on a store. */
export const hostIdentities = {
  enrollHost: onStore(identities.enrollHost),
  hostOfToken: onStore(identities.hostOfToken),
  tokenHashOf: onStore(identities.tokenHashOf),
  listHostIdentities: onStore(identities.listHostIdentities),
  recordPendingChange: onStore(identities.recordPendingChange),
  approvePendingChange: onStore(identities.approvePendingChange),
  revokeHost: onStore(identities.revokeHost),
}

export interface StoreOptions {
  /** The keys themselves, newest first (rotation); otherwise `keyFile`, then DBROKER_STORE_KEY, then store.key beside a SQLite file. */
  keys?: StoreKey[]
  /** A file of keys, one per line, newest first: what `--store-key-file` names. */
  keyFile?: string
  env?: NodeJS.ProcessEnv
}

const isPostgres = (url: string) => url.startsWith('postgres://') || url.startsWith('postgresql://')
const sqliteFile = (url: string) => url.replace(/^sqlite:/, '')

/** Where a SQLite store keeps its key when none is given: beside the database, in the data dir. */
export const storeKeyFileOf = (url: string) => path.join(path.dirname(sqliteFile(url)), 'store.key')

/** The keys a store is opened with: given, from a file, from the environment, or (SQLite) the data dir's own file. */
export function resolveStoreKeys(url: string, options: StoreOptions = {}): StoreKey[] {
  if (options.keys) return options.keys
  if (options.keyFile) return readStoreKeyFile(options.keyFile)
  const fromEnv = (options.env ?? process.env)[STORE_KEY_ENV]
  if (fromEnv) return parseStoreKeys(fromEnv, STORE_KEY_ENV)
  if (isPostgres(url)) {
    throw new StoreKeyError(
      `a PostgreSQL store needs the key its secrets are encrypted with: set ${STORE_KEY_ENV} or --store-key-file, the same on every broker`,
      'openssl rand -hex 32 > /etc/dbroker/store.key; chmod 600 /etc/dbroker/store.key',
    )
  }
  if (sqliteFile(url) === ':memory:') return [generateStoreKey()]
  return dataDirStoreKeys(storeKeyFileOf(url))
}

/**
 * Opens and migrates a store. `url` is `sqlite:PATH` (or a bare path) for the
 * embedded store, or `postgres://...` for one shared by several brokers.
 * Secrets in it are sealed with the first of its keys (see secrets.ts).
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const cipher = new SecretCipher(resolveStoreKeys(url, options))
  const store = isPostgres(url) ? await openPostgres(url, cipher) : await openSqlite(url, cipher)
  try {
    await store.migrate()
    await checkStoreKey(store.db as Kysely<any>, cipher)
    // The encrypting migration leaves plaintext pages in the WAL: the checkpoint empties it.
    await store.forgetDeleted()
  } catch (error) {
    await store.close()
    throw error
  }
  return store
}

async function openSqlite(url: string, cipher: SecretCipher): Promise<Store> {
  const file = sqliteFile(url)
  if (file !== ':memory:') {
    mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
    // SQLite gives its -wal and -shm files the database file's mode: 0600 before the first open, and for files that already were.
    closeSync(openSync(file, 'a', 0o600))
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600)
  }
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
  // Deleted rows (revoked bindings) are zeroed in their pages, not left in free space.
  database.pragma('secure_delete = ON')
  return new Store(new Kysely<Database>({dialect: new SqliteDialect({database})}), 'sqlite', cipher)
}

async function openPostgres(url: string, cipher: SecretCipher): Promise<Store> {
  const {default: pg} = await import('pg')
  pg.types.setTypeParser(20, (value: string) => Number(value))
  const pool = new pg.Pool({connectionString: url, max: 10})
  const store = new Store(new Kysely<Database>({dialect: new PostgresDialect({pool})}), 'postgres', cipher)
  store.channel = new PgChannel(pool, () => new pg.Client({connectionString: url}))
  return store
}

/** True for a primary-key or unique violation in either dialect: another request won the race. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as {code?: string} | undefined)?.code
  return (
    code === '23505' ||
    (typeof code === 'string' && (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE'))
  )
}
