import type {Insertable, Selectable} from 'kysely'

import type {Binding, BindingState} from '../../core/types.js'
import {type Db, readJson, touched, writeJson} from '../db.js'
import type {BindingsTable, SpareUsersTable} from '../schema.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

export type BindingRow = Selectable<BindingsTable>
export type NewBindingRow = Insertable<BindingsTable>
export type SpareUserRow = Selectable<SpareUsersTable>
export type NewSpareUserRow = Insertable<SpareUsersTable>

export interface StoredBinding extends Binding {
  requestKey: string
}

/** A user made in the service ahead of a bind, so a bind only has to claim it. */
export interface SpareUser {
  username: string
  password: string
}

export function toBinding(row: BindingRow, secrets: SecretCipher): Binding {
  const sealed = sealedRow(secrets, 'bindings', row.id)
  return {
    id: row.id,
    instanceId: row.instance_id,
    serviceId: row.service_id,
    planId: row.plan_id,
    state: row.state as BindingState,
    appGuid: row.app_guid,
    bindResource: readJson(row.bind_resource),
    parameters: readJson(sealed.open('parameters', row.parameters)) ?? {},
    context: readJson(row.context) ?? {},
    credentials: readJson(sealed.open('credentials', row.credentials)),
    createdAt: Number(row.created_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  }
}

export async function insertBinding(
  db: Db,
  secrets: SecretCipher,
  binding: Binding,
  requestKey: string,
): Promise<void> {
  const sealed = sealedRow(secrets, 'bindings', binding.id)
  const row: NewBindingRow = {
    id: binding.id,
    instance_id: binding.instanceId,
    service_id: binding.serviceId,
    plan_id: binding.planId,
    state: binding.state,
    app_guid: binding.appGuid,
    bind_resource: binding.bindResource ? writeJson(binding.bindResource) : null,
    parameters: sealed.seal('parameters', writeJson(binding.parameters)),
    context: writeJson(binding.context),
    credentials: sealed.seal('credentials', writeJson(binding.credentials)),
    request_key: sealed.seal('request_key', requestKey),
    created_at: binding.createdAt,
    updated_at: binding.createdAt,
    expires_at: binding.expiresAt ?? null,
  }
  await db.insertInto('bindings').values(row).execute()
}

export async function getBinding(db: Db, secrets: SecretCipher, id: string): Promise<StoredBinding | undefined> {
  const row = await db.selectFrom('bindings').selectAll().where('id', '=', id).executeTakeFirst()
  return (
    row && {
      ...toBinding(row, secrets),
      requestKey: sealedRow(secrets, 'bindings', row.id).open('request_key', row.request_key),
    }
  )
}

export async function listBindings(db: Db, secrets: SecretCipher, instanceId?: string): Promise<Binding[]> {
  let query = db.selectFrom('bindings').selectAll().orderBy('created_at')
  if (instanceId) query = query.where('instance_id', '=', instanceId)
  return (await query.execute()).map((row) => toBinding(row, secrets))
}

export async function expiredBindings(db: Db, secrets: SecretCipher, now: number, limit: number): Promise<Binding[]> {
  const rows = await db
    .selectFrom('bindings')
    .selectAll()
    .where('state', '=', 'bound')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .execute()
  return rows.map((row) => toBinding(row, secrets))
}

/**
 * One broker's claim on unbinding an expired binding: its expires_at moves on
 * to `until` only if it is still the `expiresAt` the broker read, so of brokers
 * sweeping together exactly one wins; if that one dies, another retries after `until`.
 */
export async function claimExpiredBinding(db: Db, id: string, expiresAt: number, until: number): Promise<boolean> {
  return touched(
    await db
      .updateTable('bindings')
      .set({expires_at: until})
      .where('id', '=', id)
      .where('state', '=', 'bound')
      .where('expires_at', '=', expiresAt)
      .executeTakeFirst(),
  )
}

export async function transitionBinding(
  db: Db,
  id: string,
  from: BindingState[],
  to: BindingState,
  now: number,
): Promise<boolean> {
  return touched(
    await db
      .updateTable('bindings')
      .set({state: to, updated_at: now})
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst(),
  )
}

export async function deleteBinding(db: Db, id: string): Promise<void> {
  await db.deleteFrom('bindings').where('id', '=', id).execute()
}

// spare users: made in the service ahead of binds

const toSpareUser = (row: Pick<SpareUserRow, 'username' | 'password'>, secrets: SecretCipher): SpareUser => ({
  username: row.username,
  password: sealedRow(secrets, 'spare_users', row.username).open('password', row.password),
})

export async function addSpareUser(
  db: Db,
  secrets: SecretCipher,
  instanceId: string,
  user: SpareUser,
  now: number,
): Promise<void> {
  const row: NewSpareUserRow = {
    username: user.username,
    instance_id: instanceId,
    password: sealedRow(secrets, 'spare_users', user.username).seal('password', user.password),
    created_at: now,
  }
  await db.insertInto('spare_users').values(row).execute()
}

const oldestSpareUsers = (db: Db, instanceId: string) =>
  db
    .selectFrom('spare_users')
    .select(['username', 'password'])
    .where('instance_id', '=', instanceId)
    .orderBy('created_at')

export async function spareUsers(db: Db, secrets: SecretCipher, instanceId: string): Promise<SpareUser[]> {
  return (await oldestSpareUsers(db, instanceId).execute()).map((row) => toSpareUser(row, secrets))
}

/** Takes the oldest spare user of an instance; a delete that removed the row is the claim, so two brokers never hand out the same user. */
export async function claimSpareUser(
  db: Db,
  secrets: SecretCipher,
  instanceId: string,
): Promise<SpareUser | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const spare = await oldestSpareUsers(db, instanceId).limit(1).executeTakeFirst()
    if (!spare) return undefined
    if (touched(await db.deleteFrom('spare_users').where('username', '=', spare.username).executeTakeFirst()))
      return toSpareUser(spare, secrets)
  }
  return undefined
}
