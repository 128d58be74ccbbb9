import type {HostEnrollment, PendingHostChange} from '../core/host-identity.js'
import type {Store} from './store.js'

/**
 * Records a host's token hash. An enrolled host keeps its token unless
 * `replace` says otherwise; replacing revokes the old token at once.
 */
export async function enrollHost(store: Store, hostId: string, tokenHash: string, options: {replace: boolean}, now = Date.now()): Promise<'enrolled' | 'replaced' | 'exists'> {
  const inserted = await store.db
    .insertInto('host_identities')
    .values({host_id: hostId, token_hash: tokenHash, enrolled_at: now, pending: null})
    .onConflict((oc) => oc.column('host_id').doNothing())
    .executeTakeFirst()
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return 'enrolled'
  if (!options.replace) return 'exists'
  await store.db.updateTable('host_identities').set({token_hash: tokenHash, enrolled_at: now, pending: null}).where('host_id', '=', hostId).execute()
  return 'replaced'
}

/** The host a token hash belongs to. */
export async function hostOfToken(store: Store, tokenHash: string): Promise<string | undefined> {
  const row = await store.db.selectFrom('host_identities').select('host_id').where('token_hash', '=', tokenHash).executeTakeFirst()
  return row?.host_id
}

export async function tokenHashOf(store: Store, hostId: string): Promise<string | undefined> {
  const row = await store.db.selectFrom('host_identities').select('token_hash').where('host_id', '=', hostId).executeTakeFirst()
  return row?.token_hash
}

export async function listHostIdentities(store: Store): Promise<HostEnrollment[]> {
  const rows = await store.db.selectFrom('host_identities').select(['host_id', 'enrolled_at', 'pending']).orderBy('host_id').execute()
  return rows.map((r) => ({hostId: r.host_id, enrolledAt: Number(r.enrolled_at), pending: r.pending === null ? null : (JSON.parse(r.pending) as PendingHostChange)}))
}

/** Keeps the latest change the host asked for, replacing an earlier one; false when that same change already waits. */
export async function recordPendingChange(store: Store, hostId: string, change: PendingHostChange): Promise<boolean> {
  const row = await store.db.selectFrom('host_identities').select('pending').where('host_id', '=', hostId).executeTakeFirst()
  const waiting = row?.pending ? (JSON.parse(row.pending) as PendingHostChange) : undefined
  if (waiting && waiting.agentUrl === change.agentUrl && waiting.serviceAddress === change.serviceAddress && waiting.bindAddress === change.bindAddress) return false
  await store.db.updateTable('host_identities').set({pending: JSON.stringify(change)}).where('host_id', '=', hostId).execute()
  return true
}

/** Applies the host's pending change to its registration; undefined when none waits. */
export async function approvePendingChange(store: Store, hostId: string): Promise<PendingHostChange | undefined> {
  return store.transaction(async (tx) => {
    const row = await tx.db.selectFrom('host_identities').select('pending').where('host_id', '=', hostId).executeTakeFirst()
    if (!row?.pending) return undefined
    const change = JSON.parse(row.pending) as PendingHostChange
    await tx.db
      .updateTable('hosts')
      .set({agent_url: change.agentUrl, service_address: change.serviceAddress, bind_address: change.bindAddress})
      .where('id', '=', hostId)
      .execute()
    await tx.db.updateTable('host_identities').set({pending: null}).where('host_id', '=', hostId).execute()
    return change
  })
}

/** Forgets a host's token: its agent can no longer register or heartbeat, nor be called; so the host is dead at once. */
export async function revokeHost(store: Store, hostId: string): Promise<boolean> {
  return store.transaction(async (tx) => {
    const result = await tx.db.deleteFrom('host_identities').where('host_id', '=', hostId).executeTakeFirst()
    if (Number(result.numDeletedRows) === 0) return false
    await tx.db.updateTable('hosts').set({status: 'dead'}).where('id', '=', hostId).execute()
    return true
  })
}
