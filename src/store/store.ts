import {Kysely, Migrator, sql, type Migration, type Transaction} from 'kysely'

import type {
  Binding,
  BindingState,
  Host,
  InstanceState,
  Operation,
  OperationState,
  PortMapping,
  ServiceInstance,
} from '../core/types.js'
import * as initial from './migrations/001_initial.js'
import * as multihost from './migrations/002_multihost.js'
import * as spareUsers from './migrations/003_spare_users.js'
import * as hostIdentity from './migrations/005_host_identity.js'
import {encryptSecrets} from './migrations/006_encrypt_secrets.js'
import type {BindingsTable, Database, HostsTable, InstancesTable, OperationsTable} from './schema.js'
import {placeOf, type SealedTable} from './sealed-columns.js'
import {SecretCipher} from './secrets.js'

const migrations: Record<string, Migration> = {'001_initial': initial, '002_multihost': multihost, '003_spare_users': spareUsers, '005_host_identity': hostIdentity}

type Db = Kysely<Database> | Transaction<Database>

/** The advisory lock key of placement: any constant shared by every broker. */
const PLACEMENT_LOCK = 0x64627270

/** Change notices between brokers sharing one store (PostgreSQL LISTEN/NOTIFY). */
export interface StoreChannel {
  publish(payload: string): Promise<void>
  /** `onReconnect`: the channel listens again after losing its connection, and the notices sent meanwhile are lost. */
  subscribe(listener: (payload: string) => void, onReconnect?: () => void): Promise<void>
  close(): Promise<void>
}

const json = (value: unknown) => JSON.stringify(value ?? null)
const parse = <T>(text: string | null): T => (text === null ? (null as T) : (JSON.parse(text) as T))

/** A secret column's text: opened when sealed; plaintext (a store before the encrypting migration) reads as it is. */
function opened(secrets: SecretCipher, table: SealedTable, column: string, rowKey: string, text: string): string {
  return SecretCipher.isSealed(text) ? secrets.open(text, placeOf(table, column, rowKey)) : text
}

function toHost(row: HostsTable): Host {
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
    labels: parse(row.labels) ?? {},
    facts: parse(row.facts),
    lastHeartbeat: Number(row.last_heartbeat),
    capacity: {
      maxContainers: row.max_containers === null ? null : Number(row.max_containers),
      memoryBytes: row.max_memory === null ? null : Number(row.max_memory),
    },
    keepaliveMs: row.keepalive_ms === null ? null : Number(row.keepalive_ms),
  }
}

function toInstance(row: InstancesTable, secrets: SecretCipher): ServiceInstance {
  const open = (column: 'credentials' | 'spec' | 'parameters') => opened(secrets, 'instances', column, row.id, row[column])
  return {
    id: row.id,
    serviceId: row.service_id,
    planId: row.plan_id,
    hostId: row.host_id,
    state: row.state as InstanceState,
    organizationGuid: row.organization_guid,
    spaceGuid: row.space_guid,
    parameters: parse(open('parameters')) ?? {},
    context: parse(row.context) ?? {},
    maintenanceInfo: parse(row.maintenance_info),
    credentials: parse(open('credentials')),
    spec: parse(open('spec')),
    dashboardUrl: row.dashboard_url,
    name: row.name,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

function toBinding(row: BindingsTable, secrets: SecretCipher): Binding {
  const open = (column: 'credentials' | 'parameters') => opened(secrets, 'bindings', column, row.id, row[column])
  return {
    id: row.id,
    instanceId: row.instance_id,
    serviceId: row.service_id,
    planId: row.plan_id,
    state: row.state as BindingState,
    appGuid: row.app_guid,
    bindResource: parse(row.bind_resource),
    parameters: parse(open('parameters')) ?? {},
    context: parse(row.context) ?? {},
    credentials: parse(open('credentials')),
    createdAt: Number(row.created_at),
  }
}

function toOperation(row: OperationsTable, secrets: SecretCipher): Operation {
  return {
    id: row.id,
    kind: row.kind as Operation['kind'],
    instanceId: row.instance_id,
    bindingId: row.binding_id,
    state: row.state as OperationState,
    description: row.description,
    requestKey: opened(secrets, 'operations', 'request_key', row.id, row.request_key),
    originatingIdentity: row.originating_identity,
    requestIdentity: row.request_identity,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/** A stored instance together with the request that created it, for idempotency checks. */
export interface StoredInstance extends ServiceInstance {
  requestKey: string
}

export interface StoredBinding extends Binding {
  requestKey: string
}

export class PortRangeFullError extends Error {
  constructor(readonly hostId: string, readonly range: [number, number]) {
    super(`no free host port on host ${hostId}: the range ${range[0]}-${range[1]} is full`)
  }
}

/**
 * Typed access to the tables. One instance wraps either the database or a
 * transaction, so the same methods compose inside `transaction()`.
 */
export class Store {
  /** Set on a PostgreSQL store: every broker on it hears what the others publish. */
  channel?: StoreChannel

  constructor(
    readonly db: Db,
    readonly dialect: 'sqlite' | 'postgres',
    /** Seals the secret columns (sealed-columns.ts) on the way in and opens them on the way out. */
    readonly secrets: SecretCipher,
  ) {}

  private seal(table: SealedTable, column: string, rowKey: string, text: string): string {
    return this.secrets.seal(text, placeOf(table, column, rowKey))
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db as Kysely<Database>,
      provider: {getMigrations: async () => ({...migrations, '006_encrypt_secrets': encryptSecrets(this.secrets)})},
    })
    const {error} = await migrator.migrateToLatest()
    if (error) throw error
  }

  transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this)
    return (this.db as Kysely<Database>).transaction().execute((trx) => work(new Store(trx, this.dialect, this.secrets)))
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('hosts').select('id').limit(1).execute()
  }

  async close(): Promise<void> {
    await this.channel?.close()
    if (!this.db.isTransaction) await (this.db as Kysely<Database>).destroy()
  }

  // hosts

  async upsertHost(
    host: Omit<Host, 'lastHeartbeat' | 'status' | 'drained' | 'capacity' | 'keepaliveMs'> & Partial<Pick<Host, 'drained' | 'capacity' | 'keepaliveMs'>>,
    now = Date.now(),
  ): Promise<Host> {
    const values = {
      service_address: host.serviceAddress,
      bind_address: host.bindAddress,
      agent_url: host.agentUrl,
      port_min: host.portMin,
      port_max: host.portMax,
      status: 'alive',
      zone: host.zone,
      labels: json(host.labels),
      facts: host.facts ? json(host.facts) : null,
      last_heartbeat: now,
      max_containers: host.capacity?.maxContainers ?? null,
      max_memory: host.capacity?.memoryBytes ?? null,
      keepalive_ms: host.keepaliveMs ?? null,
    }
    await this.db
      .insertInto('hosts')
      .values({id: host.id, drained: host.drained ? 1 : 0, created_at: now, ...values})
      .onConflict((oc) => oc.column('id').doUpdateSet(values))
      .execute()
    return (await this.getHost(host.id))!
  }

  async getHost(id: string): Promise<Host | undefined> {
    const row = await this.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toHost(row)
  }

  async listHosts(): Promise<Host[]> {
    const rows = await this.db.selectFrom('hosts').selectAll().orderBy('id').execute()
    return rows.map(toHost)
  }

  async heartbeat(id: string, facts: Host['facts'], now = Date.now()): Promise<boolean> {
    const result = await this.db
      .updateTable('hosts')
      .set({last_heartbeat: now, status: 'alive', ...(facts ? {facts: json(facts)} : {})})
      .where('id', '=', id)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  // instances

  async insertInstance(instance: ServiceInstance, requestKey: string): Promise<void> {
    await this.db
      .insertInto('instances')
      .values({
        id: instance.id,
        service_id: instance.serviceId,
        plan_id: instance.planId,
        host_id: instance.hostId,
        state: instance.state,
        organization_guid: instance.organizationGuid,
        space_guid: instance.spaceGuid,
        parameters: this.seal('instances', 'parameters', instance.id, json(instance.parameters)),
        context: json(instance.context),
        maintenance_info: instance.maintenanceInfo ? json(instance.maintenanceInfo) : null,
        credentials: this.seal('instances', 'credentials', instance.id, json(instance.credentials)),
        spec: this.seal('instances', 'spec', instance.id, json(instance.spec)),
        dashboard_url: instance.dashboardUrl,
        name: instance.name,
        request_key: this.seal('instances', 'request_key', instance.id, requestKey),
        created_at: instance.createdAt,
        updated_at: instance.updatedAt,
      })
      .execute()
  }

  async getInstance(id: string): Promise<StoredInstance | undefined> {
    const row = await this.db.selectFrom('instances').selectAll().where('id', '=', id).executeTakeFirst()
    return row && {...toInstance(row, this.secrets), requestKey: opened(this.secrets, 'instances', 'request_key', row.id, row.request_key)}
  }

  async getInstanceByName(name: string): Promise<StoredInstance | undefined> {
    const row = await this.db.selectFrom('instances').selectAll().where('name', '=', name).executeTakeFirst()
    return row && {...toInstance(row, this.secrets), requestKey: opened(this.secrets, 'instances', 'request_key', row.id, row.request_key)}
  }

  async listInstances(filter: {hostId?: string; state?: InstanceState} = {}): Promise<ServiceInstance[]> {
    let query = this.db.selectFrom('instances').selectAll().orderBy('created_at')
    if (filter.hostId) query = query.where('host_id', '=', filter.hostId)
    if (filter.state) query = query.where('state', '=', filter.state)
    return (await query.execute()).map((row) => toInstance(row, this.secrets))
  }

  async countInstancesByHost(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('instances')
      .select((eb) => ['host_id', eb.fn.countAll<number>().as('n')])
      .groupBy('host_id')
      .execute()
    return new Map(rows.map((r) => [r.host_id, Number(r.n)]))
  }

  async updateInstance(
    id: string,
    patch: Partial<Pick<ServiceInstance, 'state' | 'planId' | 'parameters' | 'context' | 'maintenanceInfo' | 'spec'>> & {
      requestKey?: string
    },
    now = Date.now(),
  ): Promise<void> {
    await this.db
      .updateTable('instances')
      .set({
        updated_at: now,
        ...(patch.state === undefined ? {} : {state: patch.state}),
        ...(patch.planId === undefined ? {} : {plan_id: patch.planId}),
        ...(patch.parameters === undefined ? {} : {parameters: this.seal('instances', 'parameters', id, json(patch.parameters))}),
        ...(patch.context === undefined ? {} : {context: json(patch.context)}),
        ...(patch.maintenanceInfo === undefined ? {} : {maintenance_info: patch.maintenanceInfo ? json(patch.maintenanceInfo) : null}),
        ...(patch.spec === undefined ? {} : {spec: this.seal('instances', 'spec', id, json(patch.spec))}),
        ...(patch.requestKey === undefined ? {} : {request_key: this.seal('instances', 'request_key', id, patch.requestKey)}),
      })
      .where('id', '=', id)
      .execute()
  }

  /** Moves an instance to `to` only from one of `from`; false when another request got there first. */
  async transitionInstance(id: string, from: InstanceState[], to: InstanceState, now = Date.now()): Promise<boolean> {
    const result = await this.db.updateTable('instances').set({state: to, updated_at: now}).where('id', '=', id).where('state', 'in', from).executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  async setInstanceName(id: string, name: string): Promise<void> {
    await this.db.updateTable('instances').set({name}).where('id', '=', id).execute()
  }

  /** Deletes the instance with its ports and bindings; operations stay for last_operation. */
  async deleteInstance(id: string): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.db.deleteFrom('spare_users').where('instance_id', '=', id).execute()
      await tx.db.deleteFrom('ports').where('instance_id', '=', id).execute()
      await tx.db.deleteFrom('bindings').where('instance_id', '=', id).execute()
      await tx.db.deleteFrom('instances').where('id', '=', id).execute()
    })
    await this.forgetDeleted()
  }

  // spare users: made in the service ahead of binds

  async addSpareUser(instanceId: string, user: {username: string; password: string}, now = Date.now()): Promise<void> {
    await this.db
      .insertInto('spare_users')
      .values({username: user.username, instance_id: instanceId, password: this.seal('spare_users', 'password', user.username, user.password), created_at: now})
      .execute()
  }

  private openSpare(row: {username: string; password: string}): {username: string; password: string} {
    return {username: row.username, password: opened(this.secrets, 'spare_users', 'password', row.username, row.password)}
  }

  async spareUsers(instanceId: string): Promise<Array<{username: string; password: string}>> {
    const rows = await this.db.selectFrom('spare_users').select(['username', 'password']).where('instance_id', '=', instanceId).orderBy('created_at').execute()
    return rows.map((row) => this.openSpare(row))
  }

  /** Takes the oldest spare user of an instance; a delete that removed the row is the claim, so two brokers never hand out the same user. */
  async claimSpareUser(instanceId: string): Promise<{username: string; password: string} | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const spare = await this.db.selectFrom('spare_users').select(['username', 'password']).where('instance_id', '=', instanceId).orderBy('created_at').limit(1).executeTakeFirst()
      if (!spare) return undefined
      const taken = await this.db.deleteFrom('spare_users').where('username', '=', spare.username).executeTakeFirst()
      if (Number(taken.numDeletedRows) === 1) return this.openSpare(spare)
    }
    return undefined
  }

  // ports

  /**
   * Allocates one free host port per container port, lowest first, on the
   * host's range. Call inside a transaction; the (host, port) primary key makes
   * a lost race fail rather than double-book.
   */
  async allocatePorts(host: Host, instanceId: string, containerPorts: number[], exclude: Iterable<number> = []): Promise<PortMapping[]> {
    if (containerPorts.length === 0) return []
    const used = new Set([
      ...exclude,
      ...(await this.db.selectFrom('ports').select('port').where('host_id', '=', host.id).execute()).map((r) => Number(r.port)),
    ])
    const mappings: PortMapping[] = []
    let candidate = host.portMin
    for (const containerPort of containerPorts) {
      while (candidate <= host.portMax && used.has(candidate)) candidate++
      if (candidate > host.portMax) throw new PortRangeFullError(host.id, [host.portMin, host.portMax])
      mappings.push({container: containerPort, host: candidate, protocol: 'tcp'})
      used.add(candidate)
    }
    await this.db
      .insertInto('ports')
      .values(mappings.map((m) => ({host_id: host.id, port: m.host, instance_id: instanceId, container_port: m.container})))
      .execute()
    return mappings
  }

  async usedPortsByHost(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('ports')
      .select((eb) => ['host_id', eb.fn.countAll<number>().as('n')])
      .groupBy('host_id')
      .execute()
    return new Map(rows.map((r) => [r.host_id, Number(r.n)]))
  }

  async releasePorts(hostId: string, ports: number[]): Promise<void> {
    if (ports.length > 0) await this.db.deleteFrom('ports').where('host_id', '=', hostId).where('port', 'in', ports).execute()
  }

  async portsOf(instanceId: string): Promise<Array<{hostId: string; port: number; containerPort: number}>> {
    const rows = await this.db.selectFrom('ports').selectAll().where('instance_id', '=', instanceId).orderBy('port').execute()
    return rows.map((r) => ({hostId: r.host_id, port: Number(r.port), containerPort: Number(r.container_port)}))
  }

  // bindings

  async insertBinding(binding: Binding, requestKey: string): Promise<void> {
    await this.db
      .insertInto('bindings')
      .values({
        id: binding.id,
        instance_id: binding.instanceId,
        service_id: binding.serviceId,
        plan_id: binding.planId,
        state: binding.state,
        app_guid: binding.appGuid,
        bind_resource: binding.bindResource ? json(binding.bindResource) : null,
        parameters: this.seal('bindings', 'parameters', binding.id, json(binding.parameters)),
        context: json(binding.context),
        credentials: this.seal('bindings', 'credentials', binding.id, json(binding.credentials)),
        request_key: this.seal('bindings', 'request_key', binding.id, requestKey),
        created_at: binding.createdAt,
        updated_at: binding.createdAt,
      })
      .execute()
  }

  async getBinding(id: string): Promise<StoredBinding | undefined> {
    const row = await this.db.selectFrom('bindings').selectAll().where('id', '=', id).executeTakeFirst()
    return row && {...toBinding(row, this.secrets), requestKey: opened(this.secrets, 'bindings', 'request_key', row.id, row.request_key)}
  }

  async listBindings(instanceId?: string): Promise<Binding[]> {
    let query = this.db.selectFrom('bindings').selectAll().orderBy('created_at')
    if (instanceId) query = query.where('instance_id', '=', instanceId)
    return (await query.execute()).map((row) => toBinding(row, this.secrets))
  }

  async transitionBinding(id: string, from: BindingState[], to: BindingState, now = Date.now()): Promise<boolean> {
    const result = await this.db.updateTable('bindings').set({state: to, updated_at: now}).where('id', '=', id).where('state', 'in', from).executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  async deleteBinding(id: string): Promise<void> {
    await this.db.deleteFrom('bindings').where('id', '=', id).execute()
    await this.forgetDeleted()
  }

  /**
   * After a revocation: secure_delete zeroed the deleted rows in their pages;
   * the checkpoint writes those pages into the file and empties the WAL, which
   * still held the old ones (PostgreSQL leaves that to its VACUUM).
   */
  async forgetDeleted(): Promise<void> {
    if (this.dialect === 'sqlite' && !this.db.isTransaction) await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.db)
  }

  // operations

  async insertOperation(op: Operation, owner: string | null): Promise<void> {
    await this.db
      .insertInto('operations')
      .values({
        id: op.id,
        kind: op.kind,
        instance_id: op.instanceId,
        binding_id: op.bindingId,
        state: op.state,
        description: op.description,
        request_key: this.seal('operations', 'request_key', op.id, op.requestKey),
        originating_identity: op.originatingIdentity,
        request_identity: op.requestIdentity,
        owner,
        created_at: op.createdAt,
        updated_at: op.updatedAt,
      })
      .execute()
  }

  /** Records how an operation ended, only while `owner` still holds it: false when another broker took it over. */
  async finishOperation(id: string, state: OperationState, description: string, owner: string, now = Date.now()): Promise<boolean> {
    const result = await this.db
      .updateTable('operations')
      .set({state, description, updated_at: now})
      .where('id', '=', id)
      .where('owner', '=', owner)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    const row = await this.db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toOperation(row, this.secrets)
  }

  /** The newest operation on an instance (bindingId undefined) or on one binding. */
  async latestOperation(instanceId: string, bindingId?: string): Promise<Operation | undefined> {
    let query = this.db.selectFrom('operations').selectAll().where('instance_id', '=', instanceId)
    query = bindingId === undefined ? query.where('binding_id', 'is', null) : query.where('binding_id', '=', bindingId)
    const row = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst()
    return row && toOperation(row, this.secrets)
  }

  async operationsInProgress(): Promise<Array<Operation & {owner: string | null}>> {
    const rows = await this.db.selectFrom('operations').selectAll().where('state', '=', 'in progress').orderBy('created_at').execute()
    return rows.map((r) => ({...toOperation(r, this.secrets), owner: r.owner}))
  }
  /** Hands an operation from a broker that stopped to `to`; false when another broker claimed it first. */
  async claimOperation(id: string, from: string | null, to: string, now = Date.now()): Promise<boolean> {
    let query = this.db.updateTable('operations').set({owner: to, updated_at: now}).where('id', '=', id).where('state', '=', 'in progress')
    query = from === null ? query.where('owner', 'is', null) : query.where('owner', '=', from)
    return Number((await query.executeTakeFirst()).numUpdatedRows) > 0
  }

  // liveness of hosts and brokers

  /** Records a host's heartbeat; `revived` when the host had been marked dead. */
  async heartbeatHost(id: string, facts: Host['facts'], now = Date.now()): Promise<'unknown' | 'alive' | 'revived'> {
    const revived = await this.db.updateTable('hosts').set({status: 'alive'}).where('id', '=', id).where('status', '=', 'dead').executeTakeFirst()
    if (!(await this.heartbeat(id, facts, now))) return 'unknown'
    return Number(revived.numUpdatedRows) > 0 ? 'revived' : 'alive'
  }

  /** Marks dead every alive host that missed `misses` heartbeats; returns the hosts this call marked. */
  async markDeadHosts(defaultKeepaliveMs: number, misses: number, now = Date.now()): Promise<Host[]> {
    const late = (await this.listHosts()).filter((h) => h.status === 'alive' && now - h.lastHeartbeat > (h.keepaliveMs ?? defaultKeepaliveMs) * misses)
    const marked: Host[] = []
    for (const host of late) {
      const result = await this.db
        .updateTable('hosts')
        .set({status: 'dead'})
        .where('id', '=', host.id)
        .where('status', '=', 'alive')
        .where('last_heartbeat', '=', host.lastHeartbeat)
        .executeTakeFirst()
      if (Number(result.numUpdatedRows) > 0) marked.push({...host, status: 'dead'})
    }
    return marked
  }

  async setHostDrained(id: string, drained: boolean): Promise<Host | undefined> {
    await this.db.updateTable('hosts').set({drained: drained ? 1 : 0}).where('id', '=', id).execute()
    return this.getHost(id)
  }

  /** Memory limits of the instances on each host, summed from their specs. */
  async memoryByHost(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('instances').select(['id', 'host_id', 'spec']).execute()
    const sums = new Map<string, number>()
    for (const row of rows) sums.set(row.host_id, (sums.get(row.host_id) ?? 0) + ((parse<{memoryBytes?: number}>(opened(this.secrets, 'instances', 'spec', row.id, row.spec))?.memoryBytes) ?? 0))
    return sums
  }

  /**
   * Serialises placement across brokers until the transaction ends, so two
   * brokers never pick from the same snapshot of free ports. SQLite
   * transactions are serial already.
   */
  async lockPlacement(): Promise<void> {
    if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${PLACEMENT_LOCK})`.execute(this.db)
  }

  async brokerHeartbeat(id: string, url: string | null, now = Date.now()): Promise<void> {
    await this.db
      .insertInto('brokers')
      .values({id, url, started_at: now, heartbeat_at: now})
      .onConflict((oc) => oc.column('id').doUpdateSet({url, heartbeat_at: now}))
      .execute()
  }

  async listBrokers(): Promise<Array<{id: string; url: string | null; startedAt: number; heartbeatAt: number}>> {
    const rows = await this.db.selectFrom('brokers').selectAll().orderBy('id').execute()
    return rows.map((r) => ({id: r.id, url: r.url, startedAt: Number(r.started_at), heartbeatAt: Number(r.heartbeat_at)}))
  }

  async removeBroker(id: string): Promise<void> {
    await this.db.deleteFrom('brokers').where('id', '=', id).execute()
  }

}
