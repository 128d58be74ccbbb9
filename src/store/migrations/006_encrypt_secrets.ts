import type {Kysely, Migration} from 'kysely'

import {resealAll, SEALED_COLUMNS} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

// The tables of later migrations (007's deployments, 009's registry logins, 010's catalog, 011's shared containers) don't exist yet when this one runs.
const LATER = new Set(['registry_logins', 'catalog_services', 'shared_containers'])
const EXISTING = SEALED_COLUMNS.filter((t) => !t.table.startsWith('deployment') && !LATER.has(t.table))

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
