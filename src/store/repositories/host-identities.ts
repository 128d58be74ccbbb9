import type {Insertable, Selectable} from 'kysely'

import type {HostEnrollment, PendingHostChange} from '../../core/host-identity.js'
import {type Db, inTransaction, readJson, touched, writeJson} from '../db.js'
import type {HostIdentitiesTable} from '../schema.js'

export type HostIdentityRow = Selectable<HostIdentitiesTable>
export type NewHostIdentityRow = Insertable<HostIdentitiesTable>

export const toHostEnrollment = (
  row: Pick<HostIdentityRow, 'host_id' | 'enrolled_at' | 'pending'>,
): HostEnrollment => ({
  hostId: row.host_id,
  enrolledAt: Number(row.enrolled_at),
  pending: readJson<PendingHostChange | null>(row.pending),
})

const sameChange = (a: PendingHostChange, b: PendingHostChange) =>
  a.agentUrl === b.agentUrl && a.serviceAddress === b.serviceAddress && a.bindAddress === b.bindAddress

/**
 * Records a host's token hash. An enrolled host keeps its token unless
 * `replace` says otherwise; replacing revokes the old token at once.
 */
export async function enrollHost(
  db: Db,
  hostId: string,
  tokenHash: string,
  options: {replace: boolean},
  now = Date.now(),
): Promise<'enrolled' | 'replaced' | 'exists'> {
  const inserted = await db
    .insertInto('host_identities')
    .values({host_id: hostId, token_hash: tokenHash, enrolled_at: now, pending: null} satisfies NewHostIdentityRow)
    .onConflict((oc) => oc.column('host_id').doNothing())
    .executeTakeFirst()
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return 'enrolled'
  if (!options.replace) return 'exists'
  await db
    .updateTable('host_identities')
    .set({token_hash: tokenHash, enrolled_at: now, pending: null})
    .where('host_id', '=', hostId)
    .execute()
  return 'replaced'
}

/** The host a token hash belongs to. */
export async function hostOfToken(db: Db, tokenHash: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('host_identities')
    .select('host_id')
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst()
  return row?.host_id
}

export async function tokenHashOf(db: Db, hostId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('host_identities')
    .select('token_hash')
    .where('host_id', '=', hostId)
    .executeTakeFirst()
  return row?.token_hash
}

export async function listHostIdentities(db: Db): Promise<HostEnrollment[]> {
  const rows = await db
    .selectFrom('host_identities')
    .select(['host_id', 'enrolled_at', 'pending'])
    .orderBy('host_id')
    .execute()
  return rows.map(toHostEnrollment)
}

/** Keeps the latest change the host asked for, replacing an earlier one; false when that same change already waits. */
export async function recordPendingChange(db: Db, hostId: string, change: PendingHostChange): Promise<boolean> {
  const row = await db.selectFrom('host_identities').select('pending').where('host_id', '=', hostId).executeTakeFirst()
  const waiting = readJson<PendingHostChange | null>(row?.pending ?? null)
  if (waiting && sameChange(waiting, change)) return false
  await db
    .updateTable('host_identities')
    .set({pending: writeJson(change)})
    .where('host_id', '=', hostId)
    .execute()
  return true
}

/** Applies the host's pending change to its registration; undefined when none waits. */
export async function approvePendingChange(db: Db, hostId: string): Promise<PendingHostChange | undefined> {
  return inTransaction(db, async (trx) => {
    const row = await trx
      .selectFrom('host_identities')
      .select('pending')
      .where('host_id', '=', hostId)
      .executeTakeFirst()
    if (!row?.pending) return undefined
    const change = readJson<PendingHostChange>(row.pending)
    // The heartbeats so far were the old agent's: the host is dead until the agent at the new address registers
    // (it learns its installation from that answer and can't act before), so nothing is placed on it meanwhile.
    await trx
      .updateTable('hosts')
      .set({
        agent_url: change.agentUrl,
        service_address: change.serviceAddress,
        bind_address: change.bindAddress,
        status: 'dead',
      })
      .where('id', '=', hostId)
      .execute()
    await trx.updateTable('host_identities').set({pending: null}).where('host_id', '=', hostId).execute()
    return change
  })
}

/** Forgets a host's token: its agent can no longer register or heartbeat, nor be called; so the host is dead at once. */
export async function revokeHost(db: Db, hostId: string): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    if (!touched(await trx.deleteFrom('host_identities').where('host_id', '=', hostId).executeTakeFirst())) return false
    await trx.updateTable('hosts').set({status: 'dead'}).where('id', '=', hostId).execute()
    return true
  })
}
