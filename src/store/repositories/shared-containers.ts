import type {Selectable} from 'kysely'

import type {ContainerSpec} from '../../core/types.js'
import {type Db, readJson, touched, writeJson} from '../db.js'
import type {SharedContainersTable} from '../schema.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

/** `creating`: its first instance's provision makes it; `ready`: it runs; `removing`: its last instance's deprovision removes it. */
export type SharedContainerState = 'creating' | 'ready' | 'removing'

/** One container that serves the instances of shared plans on a host (their spec carries its agent-side id). */
export interface SharedContainer {
  id: string
  hostId: string
  name: string
  planId: string
  state: SharedContainerState
  spec: ContainerSpec
  createdAt: number
}

const toSharedContainer = (row: Selectable<SharedContainersTable>, secrets: SecretCipher): SharedContainer => ({
  id: row.id,
  hostId: row.host_id,
  name: row.name,
  planId: row.plan_id,
  state: row.state as SharedContainerState,
  spec: readJson(sealedRow(secrets, 'shared_containers', row.id).open('spec', row.spec)),
  createdAt: Number(row.created_at),
})

export async function insertSharedContainer(db: Db, secrets: SecretCipher, c: SharedContainer): Promise<void> {
  await db
    .insertInto('shared_containers')
    .values({
      id: c.id,
      host_id: c.hostId,
      name: c.name,
      plan_id: c.planId,
      state: c.state,
      spec: sealedRow(secrets, 'shared_containers', c.id).seal('spec', writeJson(c.spec)),
      created_at: c.createdAt,
      updated_at: c.createdAt,
    })
    .execute()
}

export async function getSharedContainer(
  db: Db,
  secrets: SecretCipher,
  by: {id: string} | {hostId: string; name: string},
): Promise<SharedContainer | undefined> {
  const query = db.selectFrom('shared_containers').selectAll()
  const row = await (
    'id' in by ? query.where('id', '=', by.id) : query.where('host_id', '=', by.hostId).where('name', '=', by.name)
  ).executeTakeFirst()
  return row && toSharedContainer(row, secrets)
}

export async function listSharedContainers(
  db: Db,
  secrets: SecretCipher,
  filter: {hostId?: string} = {},
): Promise<SharedContainer[]> {
  let query = db.selectFrom('shared_containers').selectAll().orderBy('created_at')
  if (filter.hostId) query = query.where('host_id', '=', filter.hostId)
  return (await query.execute()).map((row) => toSharedContainer(row, secrets))
}

/** Moves a shared container to `to` only from one of `from`; false when another request got there first. */
export async function transitionSharedContainer(
  db: Db,
  id: string,
  from: SharedContainerState[],
  to: SharedContainerState,
  now: number,
): Promise<boolean> {
  return touched(
    await db
      .updateTable('shared_containers')
      .set({state: to, updated_at: now})
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst(),
  )
}

/** The row goes with its ports. */
export async function deleteSharedContainer(db: Db, id: string): Promise<void> {
  await db.deleteFrom('ports').where('instance_id', '=', id).execute()
  await db.deleteFrom('shared_containers').where('id', '=', id).execute()
}

/** How many instances of `planIds` live on the host, leaving out `except` and those being deprovisioned: a shared container's members. */
export async function countMembers(db: Db, hostId: string, planIds: string[], except?: string): Promise<number> {
  if (planIds.length === 0) return 0
  let query = db
    .selectFrom('instances')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('host_id', '=', hostId)
    .where('plan_id', 'in', planIds)
    .where('state', '!=', 'deprovisioning')
  if (except) query = query.where('id', '!=', except)
  return Number((await query.executeTakeFirstOrThrow()).n)
}

export const sharedContainerRepository = (db: Db, secrets: SecretCipher) => ({
  insert: (c: SharedContainer) => insertSharedContainer(db, secrets, c),
  get: (by: {id: string} | {hostId: string; name: string}) => getSharedContainer(db, secrets, by),
  list: (filter?: {hostId?: string}) => listSharedContainers(db, secrets, filter),
  transition: (id: string, from: SharedContainerState[], to: SharedContainerState, now = Date.now()) =>
    transitionSharedContainer(db, id, from, to, now),
  delete: (id: string) => deleteSharedContainer(db, id),
  countMembers: (hostId: string, planIds: string[], except?: string) => countMembers(db, hostId, planIds, except),
})
