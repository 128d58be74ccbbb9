import type {Insertable, Selectable} from 'kysely'

import type {Host, PortMapping} from '../../core/types.js'
import {countPerHost, type Db} from '../db.js'
import type {PortsTable} from '../schema.js'

export type PortRow = Selectable<PortsTable>
export type NewPortRow = Insertable<PortsTable>

export interface PortOfInstance {
  hostId: string
  port: number
  containerPort: number
}

export class PortRangeFullError extends Error {
  constructor(
    readonly hostId: string,
    readonly range: [number, number],
  ) {
    super(`no free host port on host ${hostId}: the range ${range[0]}-${range[1]} is full`)
  }
}

export const toPortOfInstance = (row: PortRow): PortOfInstance => ({
  hostId: row.host_id,
  port: Number(row.port),
  containerPort: Number(row.container_port),
})

/**
 * Allocates one free host port per container port, lowest first, on the
 * host's range. Call inside a transaction; the (host, port) primary key makes
 * a lost race fail rather than double-book.
 */
export async function allocatePorts(
  db: Db,
  host: Host,
  instanceId: string,
  containerPorts: number[],
  exclude: Iterable<number>,
): Promise<PortMapping[]> {
  if (containerPorts.length === 0) return []
  const taken = await db.selectFrom('ports').select('port').where('host_id', '=', host.id).execute()
  const used = new Set([...exclude, ...taken.map((r) => Number(r.port))])
  const mappings: PortMapping[] = []
  let candidate = host.portMin
  for (const containerPort of containerPorts) {
    while (candidate <= host.portMax && used.has(candidate)) candidate++
    if (candidate > host.portMax) throw new PortRangeFullError(host.id, [host.portMin, host.portMax])
    mappings.push({container: containerPort, host: candidate, protocol: 'tcp'})
    used.add(candidate)
  }
  const rows: NewPortRow[] = mappings.map((m) => ({
    host_id: host.id,
    port: m.host,
    instance_id: instanceId,
    container_port: m.container,
  }))
  await db.insertInto('ports').values(rows).execute()
  return mappings
}

export const usedPortsByHost = (db: Db): Promise<Map<string, number>> => countPerHost(db, 'ports')

export async function releasePorts(db: Db, hostId: string, ports: number[]): Promise<void> {
  if (ports.length > 0) await db.deleteFrom('ports').where('host_id', '=', hostId).where('port', 'in', ports).execute()
}

export async function portsOf(db: Db, instanceId: string): Promise<PortOfInstance[]> {
  return (await db.selectFrom('ports').selectAll().where('instance_id', '=', instanceId).orderBy('port').execute()).map(
    toPortOfInstance,
  )
}
