import {EVERY_HOST, type RegistryLogin, type RegistrySettings} from '../../core/registries.js'
import {type Db, inTransaction, readJson, touched, writeJson} from '../db.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

export interface StoredRegistrySettings extends RegistrySettings {
  /** A host id, or `*`: every host without its own. */
  hostId: string
  updatedAt: number
}

/** One host's own setting (`hostId`) or the one for every host (`*`, which also drops the hosts' own). */
export async function setHostRegistry(
  db: Db,
  hostId: string,
  settings: RegistrySettings,
  now = Date.now(),
): Promise<void> {
  await inTransaction(db, async (trx) => {
    if (hostId === EVERY_HOST) await trx.deleteFrom('host_registry_settings').execute()
    const row = {mirrors: writeJson(settings.mirrors), insecure: writeJson(settings.insecure), updated_at: now}
    await trx
      .insertInto('host_registry_settings')
      .values({host_id: hostId, ...row})
      .onConflict((oc) => oc.column('host_id').doUpdateSet(row))
      .execute()
  })
}

export async function listHostRegistries(db: Db): Promise<StoredRegistrySettings[]> {
  const rows = await db.selectFrom('host_registry_settings').selectAll().orderBy('host_id').execute()
  return rows.map((r) => ({
    hostId: r.host_id,
    mirrors: readJson<string[]>(r.mirrors),
    insecure: readJson<string[]>(r.insecure),
    updatedAt: Number(r.updated_at),
  }))
}

/** What a host should have: its own setting, else the one for every host; null when the operator set neither. */
export async function desiredRegistry(db: Db, hostId: string): Promise<RegistrySettings | null> {
  const rows = await db
    .selectFrom('host_registry_settings')
    .select(['host_id', 'mirrors', 'insecure'])
    .where('host_id', 'in', [hostId, EVERY_HOST])
    .execute()
  const row = rows.find((r) => r.host_id === hostId) ?? rows[0]
  return row ? {mirrors: readJson<string[]>(row.mirrors), insecure: readJson<string[]>(row.insecure)} : null
}

export async function saveLogin(
  db: Db,
  secrets: SecretCipher,
  login: {registry: string; username: string; password: string},
  now = Date.now(),
): Promise<void> {
  const row = {
    username: login.username,
    password: sealedRow(secrets, 'registry_logins', login.registry).seal('password', login.password),
    updated_at: now,
  }
  await db
    .insertInto('registry_logins')
    .values({registry: login.registry, ...row})
    .onConflict((oc) => oc.column('registry').doUpdateSet(row))
    .execute()
}

export async function listLogins(db: Db): Promise<RegistryLogin[]> {
  const rows = await db
    .selectFrom('registry_logins')
    .select(['registry', 'username', 'updated_at'])
    .orderBy('registry')
    .execute()
  return rows.map((r) => ({registry: r.registry, username: r.username, updatedAt: Number(r.updated_at)}))
}

/** A registry's login with its password, for a pull. */
export async function loginFor(
  db: Db,
  secrets: SecretCipher,
  registry: string,
): Promise<{username: string; password: string} | undefined> {
  const row = await db
    .selectFrom('registry_logins')
    .select(['username', 'password'])
    .where('registry', '=', registry)
    .executeTakeFirst()
  return (
    row && {
      username: row.username,
      password: sealedRow(secrets, 'registry_logins', registry).open('password', row.password),
    }
  )
}

export async function deleteLogin(db: Db, registry: string): Promise<boolean> {
  return touched(await db.deleteFrom('registry_logins').where('registry', '=', registry).executeTakeFirst())
}

/** The repository on one database or transaction, as the Store hands it out. */
export const registryRepository = (db: Db, secrets: SecretCipher) => ({
  setHost: (hostId: string, settings: RegistrySettings, now?: number) => setHostRegistry(db, hostId, settings, now),
  hosts: () => listHostRegistries(db),
  desired: (hostId: string) => desiredRegistry(db, hostId),
  saveLogin: (login: {registry: string; username: string; password: string}, now?: number) =>
    saveLogin(db, secrets, login, now),
  logins: () => listLogins(db),
  loginFor: (registry: string) => loginFor(db, secrets, registry),
  deleteLogin: (registry: string) => deleteLogin(db, registry),
})
