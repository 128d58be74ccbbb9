import {type Catalog, type CatalogFile, parseCatalog, type ServiceDef} from '../catalog/index.js'
import {canonical} from '../core/canonical-json.js'
import {DbrokerError, errorMessage, notFound, OsbError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {CatalogChange, CatalogServiceView} from '../core/catalog-admin.js'
import type {Store} from '../store/index.js'
import type {StoredService} from '../store/repositories/catalog.js'
import {checkInstancesKept, checkService} from './catalog-checks.js'
import type {BrokerEvents} from './events.js'

const view = (s: StoredService): CatalogServiceView => ({
  id: s.id,
  name: s.name,
  version: s.version,
  createdAt: s.createdAt,
  updatedAt: s.updatedAt,
  definition: s.definition as CatalogServiceView['definition'],
})

const row = (service: ServiceDef) => ({id: service.id, name: service.name, definition: service})

/** Stored definitions, read with the file's own loader: one the running code can't read is an error, not a guess. */
function readStored(services: StoredService[]): CatalogFile {
  return parseCatalog(JSON.stringify({services: services.map((s) => s.definition)}), 'the stored catalog').definition
}

/**
 * The catalog as the store holds it, shared by every broker on that store: the
 * YAML file seeds it on the first start, then the admin API changes it. Each
 * change bumps the catalog's generation; a broker that hears of a change
 * (its own, another broker's through the event bridge, or a resync) reads
 * the store again when its generation is older, and swaps its Catalog.
 */
export class StoredCatalog {
  private reloading: Promise<void> = Promise.resolve()
  private events: BrokerEvents | undefined

  private constructor(
    readonly catalog: Catalog,
    private readonly store: Store,
    private readonly log: Logger,
    private generation: number,
  ) {}

  /**
   * Seeds an empty store with `catalog` (the file's), or puts the stored
   * catalog into it; a file that differs from the store is said once, with how
   * to apply it: the store wins.
   */
  static async open(store: Store, catalog: Catalog, log: Logger): Promise<StoredCatalog> {
    const fromFile = catalog.definition.services
    const seeded = await store.transaction((tx) => tx.catalog.seed(fromFile.map(row), catalog.file))
    if (seeded) log.info(`the store's catalog was seeded from ${catalog.file}`)
    const state = (await store.catalog.state())!
    const stored = await store.catalog.list()
    let definition: CatalogFile
    try {
      definition = readStored(stored)
    } catch (error) {
      throw new DbrokerError(`cannot read the catalog in the store: ${errorMessage(error)}`)
    }
    if (!seeded) {
      const byId = new Map(definition.services.map((s) => [s.id, s]))
      const changed = fromFile.filter((s) => byId.has(s.id) && canonical(byId.get(s.id)) !== canonical(s))
      const missing = fromFile.filter((s) => !byId.has(s.id))
      if (changed.length > 0 || missing.length > 0)
        log.warn(
          `the catalog file ${catalog.file} differs from the store's catalog, which is what the broker serves: ` +
            [
              ...changed.map((s) => `${s.name} changed in the file`),
              ...missing.map((s) => `${s.name} not in the store`),
            ].join(', ') +
            `; apply the file with ${changed.length > 0 ? `\`dbroker services update ${catalog.file}\`` : ''}` +
            `${changed.length > 0 && missing.length > 0 ? ' and ' : ''}` +
            `${missing.length > 0 ? `\`dbroker services add ${catalog.file}\`` : ''}`,
        )
    }
    catalog.replace(definition)
    return new StoredCatalog(catalog, store, log, state.generation)
  }

  async list(): Promise<{generation: number; services: CatalogServiceView[]}> {
    const state = await this.store.catalog.state()
    return {generation: state?.generation ?? 0, services: (await this.store.catalog.list()).map(view)}
  }

  async get(ref: string): Promise<{generation: number; service: CatalogServiceView}> {
    const {generation, services} = await this.list()
    return {generation, service: found(services, ref)}
  }

  /** Adds a service (a body in the catalog file's shape) at the end of the catalog. */
  add(input: unknown): Promise<CatalogChange> {
    return this.change('added', async (tx, stored) => {
      const given = input as {id?: unknown; name?: unknown} | undefined
      const there = stored.find((s) => s.name === given?.name || s.id === given?.id)
      if (there) throw new OsbError(409, `service ${there.name} is in the catalog already: update it instead`)
      const checked = checkService(readStored(stored).services, input)
      const generation = await tx.catalog.add(row(checked.changed))
      return {generation, definition: [...checked.others, checked.changed], name: checked.changed.name}
    })
  }

  /** Replaces service `ref` at `version`; another version is a 409 (someone changed it since it was read). */
  update(ref: string, version: number, input: unknown): Promise<CatalogChange> {
    return this.change('updated', async (tx, stored) => {
      const before = found(stored.map(view), ref)
      if (before.version !== version)
        throw new OsbError(
          409,
          `service ${before.name} is at version ${before.version}, not ${version}: it changed since it was read; read it again and apply your change to that`,
        )
      const current = readStored(stored).services
      const others = current.filter((s) => s.id !== before.id)
      const checked = checkService(others, input)
      const definition = current.map((s) => (s.id === before.id ? checked.changed : s))
      if (canonical(checked.changed) === canonical(before.definition)) return {unchanged: true, name: before.name}
      checkInstancesKept(await tx.listInstances(), before.definition, checked.changed)
      const written = await tx.catalog.replace(before.id, version, row(checked.changed))
      if (!written) throw new OsbError(409, `service ${before.name} changed meanwhile; read it again`)
      return {generation: written.generation, definition, name: checked.changed.name}
    })
  }

  /** Removes service `ref` (at `version` when given) unless an instance still has one of its plans. */
  remove(ref: string, version?: number): Promise<CatalogChange> {
    return this.change('removed', async (tx, stored) => {
      const before = found(stored.map(view), ref)
      if (version !== undefined && before.version !== version)
        throw new OsbError(409, `service ${before.name} is at version ${before.version}, not ${version}`)
      if (stored.length === 1)
        throw new OsbError(409, `service ${before.name} is the catalog's last: a catalog needs at least one service`)
      checkInstancesKept(await tx.listInstances(), before.definition, undefined)
      const generation = await tx.catalog.remove(before.id, before.version)
      if (generation === undefined) throw new OsbError(409, `service ${before.name} changed meanwhile; read it again`)
      const definition = readStored(stored).services.filter((s) => s.id !== before.id)
      return {generation, definition, name: before.name, removed: before}
    })
  }

  /**
   * One change in one transaction with placement's lock (so no broker places an
   * instance on a plan while it goes), then this broker's catalog swapped and
   * the change announced, which tells the other brokers to read it too.
   */
  private async change(
    action: 'added' | 'updated' | 'removed',
    work: (
      tx: Store,
      stored: StoredService[],
    ) => Promise<
      | {generation: number; definition: ServiceDef[]; name: string; removed?: CatalogServiceView}
      | {unchanged: true; name: string}
    >,
  ): Promise<CatalogChange> {
    const previous = this.catalog.definition
    let swapped = false
    const done = await this.store
      .transaction(async (tx) => {
        await tx.lockPlacement()
        const result = await work(tx, await tx.catalog.list())
        // Swapped before the commit, under placement's lock: a provision placed after it sees a removed plan gone.
        if (!('unchanged' in result)) {
          this.catalog.replace({services: result.definition})
          swapped = true
        }
        return result
      })
      .catch((error: unknown) => {
        if (swapped) this.catalog.replace(previous)
        throw error
      })
    if ('unchanged' in done) return {...(await this.get(done.name)), changed: false}
    this.generation = Math.max(this.generation, done.generation)
    this.events?.emitChange({
      kind: 'catalog',
      id: done.name,
      action,
      state: `generation ${done.generation}`,
      description: `service ${done.name} ${action}`,
    })
    if (done.removed) return {generation: done.generation, service: done.removed, changed: true}
    return {...(await this.get(done.name)), changed: true}
  }

  /** Reads the store again when its catalog is newer than this broker's; changes heard are taken one at a time. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      try {
        const state = await this.store.catalog.state()
        if (!state || state.generation <= this.generation) return
        // Read after the generation: the services are at least that new, so a later change is never skipped.
        const definition = readStored(await this.store.catalog.list())
        this.catalog.replace(definition)
        this.generation = state.generation
        this.log.info(`catalog reloaded from the store (generation ${state.generation})`)
      } catch (error) {
        this.log.error(`cannot reload the catalog from the store; serving the one before: ${errorMessage(error)}`)
      }
    })
    return this.reloading
  }

  /** Announces this broker's changes on `events` and reloads on every catalog change and resync they carry; returns how to stop. */
  follow(events: BrokerEvents): () => void {
    this.events = events
    const listener = (event: {kind: string}) => {
      if (event.kind === 'catalog' || event.kind === 'resync') void this.reload()
    }
    events.on('change', listener)
    return () => events.off('change', listener)
  }
}

function found(services: CatalogServiceView[], ref: string): CatalogServiceView {
  const service = services.find((s) => s.name === ref) ?? services.find((s) => s.id === ref)
  if (!service)
    throw notFound(`the catalog has no service ${ref}; it has ${services.map((s) => s.name).join(', ') || 'none'}`)
  return service
}
