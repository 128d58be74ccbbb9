import type {Kysely, Migration} from 'kysely'

import {resealAll, SEALED_COLUMNS} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

// The tables of later migrations (007's deployments, 010's catalog) don't exist yet when this one runs.
const EXISTING = SEALED_COLUMNS.filter((t) => !t.table.startsWith('deployment') && t.table !== 'catalog_services')

// Stores made before secrets were encrypted: every plaintext secret is sealed with the store's key, in the migration's transaction.
export function encryptSecrets(cipher: SecretCipher): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const store = db as Kysely<any>
      // SQLite migrations run outside a transaction (no transactional DDL in kysely's view): this one needs one.
      if (store.isTransaction) await resealAll(store, cipher, EXISTING)
      else await store.transaction().execute((tx) => resealAll(tx, cipher, EXISTING))
    },
  }
}
