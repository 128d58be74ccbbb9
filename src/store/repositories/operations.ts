import type {Insertable, Selectable} from 'kysely'

import type {Operation, OperationState} from '../../core/types.js'
import {type Db, touched} from '../db.js'
import type {OperationsTable} from '../schema.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

export type OperationRow = Selectable<OperationsTable>
export type NewOperationRow = Insertable<OperationsTable>

/** An operation with the broker that runs it: only the owner may finish it. */
export type OwnedOperation = Operation & {owner: string | null}

export function toOperation(row: OperationRow, secrets: SecretCipher): Operation {
  return {
    id: row.id,
    kind: row.kind as Operation['kind'],
    instanceId: row.instance_id,
    bindingId: row.binding_id,
    state: row.state as OperationState,
    description: row.description,
    requestKey: sealedRow(secrets, 'operations', row.id).open('request_key', row.request_key),
    originatingIdentity: row.originating_identity,
    requestIdentity: row.request_identity,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

export async function insertOperation(
  db: Db,
  secrets: SecretCipher,
  op: Operation,
  owner: string | null,
): Promise<void> {
  const row: NewOperationRow = {
    id: op.id,
    kind: op.kind,
    instance_id: op.instanceId,
    binding_id: op.bindingId,
    state: op.state,
    description: op.description,
    request_key: sealedRow(secrets, 'operations', op.id).seal('request_key', op.requestKey),
    originating_identity: op.originatingIdentity,
    request_identity: op.requestIdentity,
    owner,
    created_at: op.createdAt,
    updated_at: op.updatedAt,
  }
  await db.insertInto('operations').values(row).execute()
}

/** Records how an operation ended, only while `owner` still holds it: false when another broker took it over. */
export async function finishOperation(
  db: Db,
  id: string,
  state: OperationState,
  description: string,
  owner: string,
  now: number,
): Promise<boolean> {
  return touched(
    await db
      .updateTable('operations')
      .set({state, description, updated_at: now})
      .where('id', '=', id)
      .where('owner', '=', owner)
      .executeTakeFirst(),
  )
}

/** A running operation's description as it goes (an image pull's progress), only while `owner` holds it and it runs. */
export async function describeOperation(
  db: Db,
  id: string,
  description: string,
  owner: string,
  now: number,
): Promise<boolean> {
  return touched(
    await db
      .updateTable('operations')
      .set({description, updated_at: now})
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('state', '=', 'in progress')
      .executeTakeFirst(),
  )
}

/** Hands an operation from a broker that stopped to `to`; false when another broker claimed it first, or it already ended. */
export async function claimOperation(
  db: Db,
  id: string,
  from: string | null,
  to: string,
  now: number,
): Promise<boolean> {
  let query = db
    .updateTable('operations')
    .set({owner: to, updated_at: now})
    .where('id', '=', id)
    .where('state', '=', 'in progress')
  query = from === null ? query.where('owner', 'is', null) : query.where('owner', '=', from)
  return touched(await query.executeTakeFirst())
}

export async function getOperation(db: Db, secrets: SecretCipher, id: string): Promise<Operation | undefined> {
  const row = await db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst()
  return row && toOperation(row, secrets)
}

/** The newest operation on an instance (bindingId undefined) or on one binding. */
export async function latestOperation(
  db: Db,
  secrets: SecretCipher,
  instanceId: string,
  bindingId?: string,
): Promise<Operation | undefined> {
  let query = db.selectFrom('operations').selectAll().where('instance_id', '=', instanceId)
  query = bindingId === undefined ? query.where('binding_id', 'is', null) : query.where('binding_id', '=', bindingId)
  const row = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst()
  return row && toOperation(row, secrets)
}

export async function operationsInProgress(db: Db, secrets: SecretCipher): Promise<OwnedOperation[]> {
  const rows = await db
    .selectFrom('operations')
    .selectAll()
    .where('state', '=', 'in progress')
    .orderBy('created_at')
    .execute()
  return rows.map((row) => ({...toOperation(row, secrets), owner: row.owner}))
}
