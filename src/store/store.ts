// Over 300 lines on purpose: the one facade over every repository, one thin delegating line per query.
import {Kysely, Migrator, sql, type Migration} from 'kysely'

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
import {type Db, inTransaction} from './db.js'
import * as initial from './migrations/001_initial.js'
import * as multihost from './migrations/002_multihost.js'
import * as spareUsers from './migrations/003_spare_users.js'
import * as installation from './migrations/004_installation.js'
import * as hostIdentity from './migrations/005_host_identity.js'
import {encryptSecrets} from './migrations/006_encrypt_secrets.js'
import * as deployments from './migrations/007_deployments.js'
import * as bindingExpiry from './migrations/008_binding_expiry.js'
import * as registries from './migrations/009_registries.js'
import * as storedCatalog from './migrations/010_catalog.js'
import * as planKinds from './migrations/011_plan_kinds.js'
import * as bindings from './repositories/bindings.js'
import * as brokers from './repositories/brokers.js'
import {catalogRepository} from './repositories/catalog.js'
import {deploymentRepository} from './repositories/deployments.js'
import * as hosts from './repositories/hosts.js'
import * as instances from './repositories/instances.js'
import * as operations from './repositories/operations.js'
import * as ports from './repositories/ports.js'
import {registryRepository} from './repositories/registries.js'
import {sharedContainerRepository} from './repositories/shared-containers.js'
import type {Database} from './schema.js'
import type {SecretCipher} from './secrets.js'

export {PortRangeFullError} from './repositories/ports.js'
export type {StoredBinding} from './repositories/bindings.js'
export type {StoredInstance} from './repositories/instances.js'

const migrations: Record<string, Migration> = {
  '001_initial': initial,
  '002_multihost': multihost,
  '003_spare_users': spareUsers,
  '004_installation': installation,
  '005_host_identity': hostIdentity,
  '007_deployments': deployments,
  '008_binding_expiry': bindingExpiry,
  '009_registries': registries,
  '010_catalog': storedCatalog,
  '011_plan_kinds': planKinds,
}

/** The advisory lock key of placement: any constant shared by every broker. */
const PLACEMENT_LOCK = 0x64627270

/** Change notices between brokers sharing one store (PostgreSQL LISTEN/NOTIFY). */
export interface StoreChannel {
  publish(payload: string): Promise<void>
  /** `onReconnect`: the channel listens again after losing its connection, and the notices sent meanwhile are lost. */
  subscribe(listener: (payload: string) => void, onReconnect?: () => void): Promise<void>
  close(): Promise<void>
}

/**
 * The repositories (repositories/, one per table) on one database or
 * transaction, so the same methods compose inside `transaction()`. The
 * repositories of tables with secret columns get the cipher: they seal on the
 * way in and open on the way out (sealed-columns.ts).
 */
export class Store {
  /** Set on a PostgreSQL store: every broker on it hears what the others publish. */
  channel?: StoreChannel

  constructor(
    readonly db: Db,
    readonly dialect: 'sqlite' | 'postgres',
    readonly secrets: SecretCipher,
  ) {}

  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db as Kysely<Database>,
      provider: {
        getMigrations: async () => ({
          ...migrations,
          '006_encrypt_secrets': encryptSecrets(this.secrets),
        }),
      },
    })
    const {error} = await migrator.migrateToLatest()
    if (error) throw error
  }

  /** This installation's id, made by its first start (migration 004). */
  async installationId(): Promise<string> {
    const row = await this.db.selectFrom('installation').select('id').executeTakeFirstOrThrow()
    return row.id
  }

  transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    return inTransaction(this.db, (trx) => work(trx === this.db ? this : new Store(trx, this.dialect, this.secrets)))
  }

  /** Shared plans' containers (repositories/shared-containers.ts), on this store's database or transaction. */
  get sharedContainers() {
    return sharedContainerRepository(this.db, this.secrets)
  }

  /** Manifest deploys and their containers (repositories/deployments.ts), on this store's database or transaction. */
  get deployments() {
    return deploymentRepository(this.db, this.secrets)
  }

  /** Registry settings per host and private registry logins (repositories/registries.ts). */
  get registries() {
    return registryRepository(this.db, this.secrets)
  }

  /** The stored catalog (repositories/catalog.ts): services, their versions, the catalog's generation. */
  get catalog() {
    return catalogRepository(this.db, this.secrets)
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('hosts').select('id').limit(1).execute()
  }

  async close(): Promise<void> {
    await this.channel?.close()
    if (!this.db.isTransaction) await (this.db as Kysely<Database>).destroy()
  }

  /**
   * After a revocation: secure_delete zeroed the deleted rows in their pages;
   * the checkpoint writes those pages into the file and empties the WAL, which
   * still held the old ones (PostgreSQL leaves that to its VACUUM).
   */
  async forgetDeleted(): Promise<void> {
    if (this.dialect === 'sqlite' && !this.db.isTransaction) await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.db)
  }

  /**
   * Serialises placement across brokers until the transaction ends, so two
   * brokers never pick from the same snapshot of free ports. SQLite
   * transactions are serial already.
   */
  async lockPlacement(): Promise<void> {
    if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${PLACEMENT_LOCK})`.execute(this.db)
  }

  // hosts

  upsertHost(host: hosts.HostRegistration, now = Date.now()): Promise<Host> {
    return hosts.upsertHost(this.db, host, now)
  }

  getHost(id: string): Promise<Host | undefined> {
    return hosts.getHost(this.db, id)
  }

  listHosts(): Promise<Host[]> {
    return hosts.listHosts(this.db)
  }

  /** Records a host's heartbeat; `revived` when the host had been marked dead. */
  heartbeatHost(
    id: string,
    facts: Host['facts'],
    now = Date.now(),
    onRevived?: (silentMs: number) => void,
  ): Promise<'unknown' | 'alive' | 'revived'> {
    return hosts.heartbeatHost(this.db, id, facts, now, onRevived)
  }

  /** Marks dead every alive host that missed `misses` heartbeats; returns the hosts this call marked. */
  markDeadHosts(defaultKeepaliveMs: number, misses: number, now = Date.now()): Promise<Host[]> {
    return hosts.markDeadHosts(this.db, defaultKeepaliveMs, misses, now)
  }

  setHostDrained(id: string, drained: boolean): Promise<Host | undefined> {
    return hosts.setHostDrained(this.db, id, drained)
  }

  // instances

  insertInstance(instance: ServiceInstance, requestKey: string): Promise<void> {
    return instances.insertInstance(this.db, this.secrets, instance, requestKey)
  }

  getInstance(id: string): Promise<instances.StoredInstance | undefined> {
    return instances.getInstance(this.db, this.secrets, {id})
  }

  getInstanceByName(name: string): Promise<instances.StoredInstance | undefined> {
    return instances.getInstance(this.db, this.secrets, {name})
  }

  listInstances(filter: {hostId?: string; state?: InstanceState} = {}): Promise<ServiceInstance[]> {
    return instances.listInstances(this.db, this.secrets, filter)
  }

  countInstancesByHost(): Promise<Map<string, number>> {
    return instances.countInstancesByHost(this.db)
  }

  /** Memory limits of the instances on each host, summed from their specs. */
  memoryByHost(): Promise<Map<string, number>> {
    return instances.memoryByHost(this.db, this.secrets)
  }

  updateInstance(id: string, patch: instances.InstancePatch, now = Date.now()): Promise<void> {
    return instances.updateInstance(this.db, this.secrets, id, patch, now)
  }

  /** Moves an instance to `to` only from one of `from`; false when another request got there first. */
  transitionInstance(id: string, from: InstanceState[], to: InstanceState, now = Date.now()): Promise<boolean> {
    return instances.transitionInstance(this.db, id, from, to, now)
  }

  setInstanceName(id: string, name: string): Promise<void> {
    return instances.setInstanceName(this.db, id, name)
  }

  /** Deletes the instance with its ports, bindings and spare users; operations stay for last_operation. */
  async deleteInstance(id: string): Promise<void> {
    await instances.deleteInstance(this.db, id)
    await this.forgetDeleted()
  }

  // spare users: made in the service ahead of binds

  addSpareUser(instanceId: string, user: bindings.SpareUser, now = Date.now()): Promise<void> {
    return bindings.addSpareUser(this.db, this.secrets, instanceId, user, now)
  }

  spareUsers(instanceId: string): Promise<bindings.SpareUser[]> {
    return bindings.spareUsers(this.db, this.secrets, instanceId)
  }

  /** Takes the oldest spare user of an instance; two brokers never hand out the same one. */
  claimSpareUser(instanceId: string): Promise<bindings.SpareUser | undefined> {
    return bindings.claimSpareUser(this.db, this.secrets, instanceId)
  }

  // ports

  /** One free host port per container port, lowest first; call inside a transaction. */
  allocatePorts(
    host: Host,
    instanceId: string,
    containerPorts: number[],
    exclude: Iterable<number> = [],
  ): Promise<PortMapping[]> {
    return ports.allocatePorts(this.db, host, instanceId, containerPorts, exclude)
  }

  usedPortsByHost(): Promise<Map<string, number>> {
    return ports.usedPortsByHost(this.db)
  }

  releasePorts(hostId: string, released: number[]): Promise<void> {
    return ports.releasePorts(this.db, hostId, released)
  }

  portsOf(instanceId: string): Promise<ports.PortOfInstance[]> {
    return ports.portsOf(this.db, instanceId)
  }

  // bindings

  insertBinding(binding: Binding, requestKey: string): Promise<void> {
    return bindings.insertBinding(this.db, this.secrets, binding, requestKey)
  }

  getBinding(id: string): Promise<bindings.StoredBinding | undefined> {
    return bindings.getBinding(this.db, this.secrets, id)
  }

  listBindings(instanceId?: string): Promise<Binding[]> {
    return bindings.listBindings(this.db, this.secrets, instanceId)
  }

  /** Bound bindings whose ttl ran out by `now`, soonest first. */
  expiredBindings(now = Date.now(), limit = 100): Promise<Binding[]> {
    return bindings.expiredBindings(this.db, this.secrets, now, limit)
  }

  claimExpiredBinding(id: string, expiresAt: number, until: number): Promise<boolean> {
    return bindings.claimExpiredBinding(this.db, id, expiresAt, until)
  }

  transitionBinding(id: string, from: BindingState[], to: BindingState, now = Date.now()): Promise<boolean> {
    return bindings.transitionBinding(this.db, id, from, to, now)
  }

  async deleteBinding(id: string): Promise<void> {
    await bindings.deleteBinding(this.db, id)
    await this.forgetDeleted()
  }

  // operations

  insertOperation(op: Operation, owner: string | null): Promise<void> {
    return operations.insertOperation(this.db, this.secrets, op, owner)
  }

  /** Records how an operation ended, only while `owner` still holds it: false when another broker took it over. */
  finishOperation(
    id: string,
    state: OperationState,
    description: string,
    owner: string,
    now = Date.now(),
  ): Promise<boolean> {
    return operations.finishOperation(this.db, id, state, description, owner, now)
  }

  /** A running operation's description as it goes, only while `owner` holds it and it runs; false otherwise. */
  describeOperation(id: string, description: string, owner: string, now = Date.now()): Promise<boolean> {
    return operations.describeOperation(this.db, id, description, owner, now)
  }

  /** Hands an operation from a broker that stopped to `to`; false when another broker claimed it first. */
  claimOperation(id: string, from: string | null, to: string, now = Date.now()): Promise<boolean> {
    return operations.claimOperation(this.db, id, from, to, now)
  }

  getOperation(id: string): Promise<Operation | undefined> {
    return operations.getOperation(this.db, this.secrets, id)
  }

  /** The newest operation on an instance (bindingId undefined) or on one binding. */
  latestOperation(instanceId: string, bindingId?: string): Promise<Operation | undefined> {
    return operations.latestOperation(this.db, this.secrets, instanceId, bindingId)
  }

  operationsInProgress(): Promise<operations.OwnedOperation[]> {
    return operations.operationsInProgress(this.db, this.secrets)
  }

  // brokers sharing the store

  brokerHeartbeat(id: string, url: string | null, now = Date.now()): Promise<void> {
    return brokers.brokerHeartbeat(this.db, id, url, now)
  }

  listBrokers(): Promise<brokers.BrokerLease[]> {
    return brokers.listBrokers(this.db)
  }

  removeBroker(id: string): Promise<void> {
    return brokers.removeBroker(this.db, id)
  }
}
