import {type Kysely, sql} from 'kysely'

import {SecretCipher} from './secrets.js'

/**
 * Every column that holds a secret or may (credentials, container specs with
 * their env, request parameters and the request keys made of them), and the
 * row key each sealed value is bound to.
 */
export const SEALED_COLUMNS = [
  {table: 'instances', key: 'id', columns: ['credentials', 'spec', 'parameters', 'request_key']},
  {table: 'bindings', key: 'id', columns: ['credentials', 'parameters', 'request_key']},
  {table: 'spare_users', key: 'username', columns: ['password']},
  {table: 'operations', key: 'id', columns: ['request_key']},
  {table: 'deployments', key: 'name', columns: ['manifest']},
  {table: 'deployment_containers', key: 'instance_id', columns: ['spec']},
  {table: 'registry_logins', key: 'registry', columns: ['password']},
  {table: 'shared_containers', key: 'id', columns: ['spec']},
  {table: 'catalog_services', key: 'id', columns: ['definition']},
] as const

export type SealedTable = (typeof SEALED_COLUMNS)[number]['table']

type SealedColumnOf<T extends SealedTable> = Extract<(typeof SEALED_COLUMNS)[number], {table: T}>['columns'][number]

/** Where a value lives, as the cipher binds it: `instances.spec:ID`. */
export const placeOf = (table: SealedTable, column: string, rowKey: string) => `${table}.${column}:${rowKey}`

/**
 * The sealed columns of one row: `seal` on the way in, `open` on the way out.
 * Plaintext (a store before the encrypting migration) opens as it is.
 */
export function sealedRow<T extends SealedTable>(secrets: SecretCipher, table: T, rowKey: string) {
  return {
    seal: (column: SealedColumnOf<T>, text: string): string => secrets.seal(text, placeOf(table, column, rowKey)),
    open: (column: SealedColumnOf<T>, text: string): string =>
      SecretCipher.isSealed(text) ? secrets.open(text, placeOf(table, column, rowKey)) : text,
  }
}

export interface ResealCount {
  table: string
  rows: number
}

/**
 * Seals every value that is plaintext or sealed with another key than the
 * cipher's first: the encrypting migration and `dbroker secrets rotate`.
 * Run it inside one transaction, so a store is never half one key, half another.
 */
export async function resealAll(
  db: Kysely<any>,
  cipher: SecretCipher,
  tables: ReadonlyArray<(typeof SEALED_COLUMNS)[number]> = SEALED_COLUMNS,
): Promise<ResealCount[]> {
  const counts: ResealCount[] = []
  for (const {table, key, columns} of tables) {
    const rows = (await db
      .selectFrom(table)
      .select([key, ...columns])
      .execute()) as Array<Record<string, string | null>>
    let changed = 0
    for (const row of rows) {
      const rowKey = String(row[key])
      const set: Record<string, string> = {}
      for (const column of columns) {
        const value = row[column]
        if (value === null || value === undefined || SecretCipher.keyIdOf(value) === cipher.keyId) continue
        const plaintext = SecretCipher.isSealed(value) ? cipher.open(value, placeOf(table, column, rowKey)) : value
        set[column] = cipher.seal(plaintext, placeOf(table, column, rowKey))
      }
      if (Object.keys(set).length === 0) continue
      await db.updateTable(table).set(set).where(key, '=', rowKey).execute()
      changed++
    }
    counts.push({table, rows: changed})
  }
  return counts
}

/** Fails at start, not at the first request, when the store's secrets were sealed with a key this process lacks. */
export async function checkStoreKey(db: Kysely<any>, cipher: SecretCipher): Promise<void> {
  for (const {table, key, columns} of SEALED_COLUMNS) {
    const column = columns[0]
    const row = (await db
      .selectFrom(table)
      .select([key, column])
      .where(sql.ref(column), 'like', 'dbx1.%')
      .limit(1)
      .executeTakeFirst()) as Record<string, string> | undefined
    if (row) cipher.open(row[column], placeOf(table, column, String(row[key])))
  }
}
