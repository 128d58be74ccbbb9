import type {Insertable, Selectable, Updateable} from 'kysely'

import type {InstanceState, ServiceInstance} from '../../core/types.js'
import {countPerHost, type Db, inTransaction, readJson, touched, writeJson} from '../db.js'
import type {InstancesTable} from '../schema.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

export type InstanceRow = Selectable<InstancesTable>
export type NewInstanceRow = Insertable<InstancesTable>
export type InstanceRowUpdate = Updateable<InstancesTable>

/** A stored instance together with the request that created it, for idempotency checks. */
export interface StoredInstance extends ServiceInstance {
  requestKey: string
}

export type InstancePatch = Partial<
  Pick<ServiceInstance, 'state' | 'planId' | 'parameters' | 'context' | 'maintenanceInfo' | 'spec' | 'credentials'>
> & {
  requestKey?: string
}

export function toInstance(row: InstanceRow, secrets: SecretCipher): ServiceInstance {
  const sealed = sealedRow(secrets, 'instances', row.id)
  return {
    id: row.id,
    serviceId: row.service_id,
    planId: row.plan_id,
    hostId: row.host_id,
    state: row.state as InstanceState,
    organizationGuid: row.organization_guid,
    spaceGuid: row.space_guid,
    parameters: readJson(sealed.open('parameters', row.parameters)) ?? {},
    context: readJson(row.context) ?? {},
    maintenanceInfo: readJson(row.maintenance_info),
    credentials: readJson(sealed.open('credentials', row.credentials)),
    spec: readJson(sealed.open('spec', row.spec)),
    dashboardUrl: row.dashboard_url,
    name: row.name,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

export async function insertInstance(
  db: Db,
  secrets: SecretCipher,
  instance: ServiceInstance,
  requestKey: string,
): Promise<void> {
  const sealed = sealedRow(secrets, 'instances', instance.id)
  const row: NewInstanceRow = {
    id: instance.id,
    service_id: instance.serviceId,
    plan_id: instance.planId,
    host_id: instance.hostId,
    state: instance.state,
    organization_guid: instance.organizationGuid,
    space_guid: instance.spaceGuid,
    parameters: sealed.seal('parameters', writeJson(instance.parameters)),
    context: writeJson(instance.context),
    maintenance_info: instance.maintenanceInfo ? writeJson(instance.maintenanceInfo) : null,
    credentials: sealed.seal('credentials', writeJson(instance.credentials)),
    spec: sealed.seal('spec', writeJson(instance.spec)),
    dashboard_url: instance.dashboardUrl,
    name: instance.name,
    request_key: sealed.seal('request_key', requestKey),
    created_at: instance.createdAt,
    updated_at: instance.updatedAt,
  }
  await db.insertInto('instances').values(row).execute()
}

export async function getInstance(
  db: Db,
  secrets: SecretCipher,
  by: {id: string} | {name: string},
): Promise<StoredInstance | undefined> {
  const query = db.selectFrom('instances').selectAll()
  const row = await ('id' in by ? query.where('id', '=', by.id) : query.where('name', '=', by.name)).executeTakeFirst()
  return (
    row && {
      ...toInstance(row, secrets),
      requestKey: sealedRow(secrets, 'instances', row.id).open('request_key', row.request_key),
    }
  )
}

export async function listInstances(
  db: Db,
  secrets: SecretCipher,
  filter: {hostId?: string; state?: InstanceState},
): Promise<ServiceInstance[]> {
  let query = db.selectFrom('instances').selectAll().orderBy('created_at')
  if (filter.hostId) query = query.where('host_id', '=', filter.hostId)
  if (filter.state) query = query.where('state', '=', filter.state)
  return (await query.execute()).map((row) => toInstance(row, secrets))
}

export const countInstancesByHost = (db: Db): Promise<Map<string, number>> => countPerHost(db, 'instances')

/** Memory limits of the instances on each host, summed from their specs. */
export async function memoryByHost(db: Db, secrets: SecretCipher): Promise<Map<string, number>> {
  const rows = await db.selectFrom('instances').select(['id', 'host_id', 'spec']).execute()
  const sums = new Map<string, number>()
  for (const row of rows) {
    const spec = readJson<{memoryBytes?: number} | null>(sealedRow(secrets, 'instances', row.id).open('spec', row.spec))
    sums.set(row.host_id, (sums.get(row.host_id) ?? 0) + (spec?.memoryBytes ?? 0))
  }
  return sums
}

export async function updateInstance(
  db: Db,
  secrets: SecretCipher,
  id: string,
  patch: InstancePatch,
  now: number,
): Promise<void> {
  const sealed = sealedRow(secrets, 'instances', id)
  const set: InstanceRowUpdate = {
    updated_at: now,
    ...(patch.state === undefined ? {} : {state: patch.state}),
    ...(patch.planId === undefined ? {} : {plan_id: patch.planId}),
    ...(patch.parameters === undefined ? {} : {parameters: sealed.seal('parameters', writeJson(patch.parameters))}),
    ...(patch.context === undefined ? {} : {context: writeJson(patch.context)}),
    ...(patch.maintenanceInfo === undefined
      ? {}
      : {maintenance_info: patch.maintenanceInfo ? writeJson(patch.maintenanceInfo) : null}),
    ...(patch.spec === undefined ? {} : {spec: sealed.seal('spec', writeJson(patch.spec))}),
    ...(patch.credentials === undefined ? {} : {credentials: sealed.seal('credentials', writeJson(patch.credentials))}),
    ...(patch.requestKey === undefined ? {} : {request_key: sealed.seal('request_key', patch.requestKey)}),
  }
  await db.updateTable('instances').set(set).where('id', '=', id).execute()
}

/** Moves an instance to `to` only from one of `from`; false when another request got there first. */
export async function transitionInstance(
  db: Db,
  id: string,
  from: InstanceState[],
  to: InstanceState,
  now: number,
): Promise<boolean> {
  return touched(
    await db
      .updateTable('instances')
      .set({state: to, updated_at: now})
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst(),
  )
}

export async function setInstanceName(db: Db, id: string, name: string): Promise<void> {
  await db.updateTable('instances').set({name}).where('id', '=', id).execute()
}

/** Deletes the instance with its spare users, ports and bindings, in one transaction; operations stay for last_operation. */
export async function deleteInstance(db: Db, id: string): Promise<void> {
  await inTransaction(db, async (trx) => {
    await trx.deleteFrom('spare_users').where('instance_id', '=', id).execute()
    await trx.deleteFrom('ports').where('instance_id', '=', id).execute()
    await trx.deleteFrom('bindings').where('instance_id', '=', id).execute()
    await trx.deleteFrom('instances').where('id', '=', id).execute()
  })
}
