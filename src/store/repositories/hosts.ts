import type {Insertable, Selectable, Updateable} from 'kysely'

import type {Host} from '../../core/types.js'
import {type Db, readJson, touched, writeJson} from '../db.js'
import type {HostsTable} from '../schema.js'

export type HostRow = Selectable<HostsTable>
export type NewHostRow = Insertable<HostsTable>
export type HostRowUpdate = Updateable<HostsTable>

/** What a host says of itself when it registers; the store keeps its liveness and the operator's drain. */
export type HostRegistration = Omit<Host, 'lastHeartbeat' | 'status' | 'drained' | 'capacity' | 'keepaliveMs'> &
  Partial<Pick<Host, 'drained' | 'capacity' | 'keepaliveMs'>>

export function toHost(row: HostRow): Host {
  return {
    id: row.id,
    serviceAddress: row.service_address,
    bindAddress: row.bind_address,
    agentUrl: row.agent_url,
    portMin: Number(row.port_min),
    portMax: Number(row.port_max),
    status: row.status as Host['status'],
    drained: Boolean(Number(row.drained)),
    zone: row.zone,
    labels: readJson(row.labels) ?? {},
    facts: readJson(row.facts),
    lastHeartbeat: Number(row.last_heartbeat),
    capacity: {
      maxContainers: row.max_containers === null ? null : Number(row.max_containers),
      memoryBytes: row.max_memory === null ? null : Number(row.max_memory),
    },
    keepaliveMs: row.keepalive_ms === null ? null : Number(row.keepalive_ms),
  }
}

/** Registers a host or refreshes its registration; a registration is a heartbeat, and keeps the drain the operator set. */
export async function upsertHost(db: Db, host: HostRegistration, now: number): Promise<Host> {
  const values = {
    service_address: host.serviceAddress,
    bind_address: host.bindAddress,
    agent_url: host.agentUrl,
    port_min: host.portMin,
    port_max: host.portMax,
    status: 'alive',
    zone: host.zone,
    labels: writeJson(host.labels),
    facts: host.facts ? writeJson(host.facts) : null,
    last_heartbeat: now,
    max_containers: host.capacity?.maxContainers ?? null,
    max_memory: host.capacity?.memoryBytes ?? null,
    keepalive_ms: host.keepaliveMs ?? null,
  } satisfies HostRowUpdate
  const row: NewHostRow = {id: host.id, drained: host.drained ? 1 : 0, created_at: now, ...values}
  await db
    .insertInto('hosts')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .execute()
  return (await getHost(db, host.id))!
}

export async function getHost(db: Db, id: string): Promise<Host | undefined> {
  const row = await db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst()
  return row && toHost(row)
}

export async function listHosts(db: Db): Promise<Host[]> {
  return (await db.selectFrom('hosts').selectAll().orderBy('id').execute()).map(toHost)
}

/**
 * Records a host's heartbeat; `revived` when the host had been marked dead
 * (only one of two racing beats says so). A revival is one statement that
 * sets the status and the beat together, so a sweep between the two can't
 * take the host for dead again, and it tells `onRevived` how long the host was silent.
 */
export async function heartbeatHost(
  db: Db,
  id: string,
  facts: Host['facts'],
  now: number,
  onRevived?: (silentMs: number) => void,
): Promise<'unknown' | 'alive' | 'revived'> {
  const before = await db
    .selectFrom('hosts')
    .select(['status', 'last_heartbeat'])
    .where('id', '=', id)
    .executeTakeFirst()
  if (!before) return 'unknown'
  const beat: HostRowUpdate = {last_heartbeat: now, status: 'alive', ...(facts ? {facts: writeJson(facts)} : {})}
  if (before.status === 'dead') {
    const revived = await db
      .updateTable('hosts')
      .set(beat)
      .where('id', '=', id)
      .where('status', '=', 'dead')
      .where('last_heartbeat', '=', before.last_heartbeat)
      .executeTakeFirst()
    if (touched(revived)) {
      onRevived?.(Math.max(0, now - Number(before.last_heartbeat)))
      return 'revived'
    }
  }
  if (!touched(await db.updateTable('hosts').set(beat).where('id', '=', id).executeTakeFirst())) return 'unknown'
  return 'alive'
}

/** Marks dead every alive host that missed `misses` heartbeats; returns the hosts this call marked (a beat in between wins). */
export async function markDeadHosts(db: Db, defaultKeepaliveMs: number, misses: number, now: number): Promise<Host[]> {
  const late = (await listHosts(db)).filter(
    (h) => h.status === 'alive' && now - h.lastHeartbeat > (h.keepaliveMs ?? defaultKeepaliveMs) * misses,
  )
  const marked: Host[] = []
  for (const host of late) {
    const result = await db
      .updateTable('hosts')
      .set({status: 'dead'})
      .where('id', '=', host.id)
      .where('status', '=', 'alive')
      .where('last_heartbeat', '=', host.lastHeartbeat)
      .executeTakeFirst()
    if (touched(result)) marked.push({...host, status: 'dead'})
  }
  return marked
}

export async function setHostDrained(db: Db, id: string, drained: boolean): Promise<Host | undefined> {
  await db
    .updateTable('hosts')
    .set({drained: drained ? 1 : 0})
    .where('id', '=', id)
    .execute()
  return getHost(db, id)
}
