import {existsSync} from 'node:fs'

import type {Kysely} from 'kysely'

import {UsageError} from '../core/errors.js'
import {openStore, resolveStoreKeys, storeKeyFileOf} from '../store/index.js'
import {resealAll, type ResealCount} from '../store/sealed-columns.js'
import {generateStoreKey, readStoreKeyFile, STORE_KEY_ENV, type StoreKey, writeStoreKeyFile} from '../store/secrets.js'

export interface RotationOptions {
  /** `sqlite:PATH` or `postgres://...`. */
  store: string
  /** Keys newest first: the first is the one everything is sealed with afterwards. */
  keyFile?: string
  env?: NodeJS.ProcessEnv
}

export interface RotationResult {
  keyId: string
  /** Ids of the keys that still read the store before the rotation. */
  previousKeyIds: string[]
  resealed: ResealCount[]
  /** The key file rewritten with the new key alone (an embedded store's own store.key). */
  keyFile?: string
}

async function reseal(url: string, keys: StoreKey[]): Promise<ResealCount[]> {
  const store = await openStore(url, {keys})
  try {
    const counts = await store.transaction((tx) => resealAll(tx.db as Kysely<any>, store.secrets))
    await store.forgetDeleted()
    return counts
  } finally {
    await store.close()
  }
}

/**
 * `dbroker secrets rotate`. An embedded store with its own store.key gets a
 * new key: written first beside the old one (a crash leaves a file that still
 * reads everything), then every secret re-sealed in one transaction, then the
 * old key dropped. With keys given (--store-key-file, DBROKER_STORE_KEY), their
 * first is the new one and the others the old: the operator rolls the file out.
 */
export async function rotateStoreKey(options: RotationOptions): Promise<RotationResult> {
  const env = options.env ?? process.env
  const given = options.keyFile !== undefined || Boolean(env[STORE_KEY_ENV])
  if (given) {
    const keys = resolveStoreKeys(options.store, {keyFile: options.keyFile, env})
    return {
      keyId: keys[0].id,
      previousKeyIds: keys.slice(1).map((k) => k.id),
      resealed: await reseal(options.store, keys),
    }
  }
  if (!options.store.startsWith('sqlite:')) resolveStoreKeys(options.store, {env})
  const keyFile = storeKeyFileOf(options.store)
  if (!existsSync(keyFile))
    throw new UsageError(`no store key at ${keyFile}: is ${options.store.slice(7)} a dbroker store?`)
  const old = readStoreKeyFile(keyFile)
  const next = generateStoreKey()
  writeStoreKeyFile(keyFile, [next, ...old])
  const resealed = await reseal(options.store, [next, ...old])
  writeStoreKeyFile(keyFile, [next])
  return {keyId: next.id, previousKeyIds: old.map((k) => k.id), resealed, keyFile}
}
