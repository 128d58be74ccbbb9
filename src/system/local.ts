import {chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {DockerAgent} from '../agent/docker-agent.js'
import {InstanceDisks} from '../agent/instance-disks.js'
import {watchEngine} from '../agent/engine-watch.js'
import {ManagedEngine, UNMANAGED_ENGINE} from '../agent/managed-engine.js'
import {superviseHost} from '../agent/supervised-host.js'
import {containerReports} from '../broker/container-reports.js'
import {startBindingExpiry} from '../broker/lifecycle/binding-expiry.js'
import type {BasicCredentials} from '../core/http-auth.js'
import {randomSecret} from '../broker/credentials.js'
import {registryLoginFor} from '../broker/registries.js'
import {type RunningBroker, startBroker} from '../broker/server.js'
import {StoredCatalog} from '../broker/stored-catalog.js'
import {type Catalog, loadCatalog} from '../catalog/index.js'
import {DbrokerError, errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import {connectEngine, ensureImage, pingEngine} from '../docker/engine.js'
import {openStore, type Store} from '../store/index.js'
import {adminPlugins} from './admin-plugins.js'

export const LOCAL_HOST_ID = 'local'

export interface LocalOptions {
  dataDir: string
  catalogFile?: string
  listen: {host: string; port: number}
  /** Explicit OSB credentials; generated once and kept in the data dir otherwise. */
  credentials?: Partial<BasicCredentials>
  /** Explicit admin API credentials; generated once and kept in the data dir otherwise. */
  adminCredentials?: Partial<BasicCredentials>
  /** Address written into credentials and that published ports bind to. */
  serviceAddress: string
  portRange: [number, number]
  keepaliveMs: number
  log: Logger
  onImageProgress?: (image: string, line: string) => void
  /** Where loop disks live; `<dataDir>/disks` by default. */
  disksDir?: string
  /** Keep the engine (`up --manage-engine`): start dockerd again, as its pidfile says it ran, and apply registry settings. */
  manageEngine?: {pidfile: string}
}

export interface LocalSystem {
  broker: RunningBroker
  url: string
  credentials: BasicCredentials
  adminCredentials: BasicCredentials
  store: Store
  catalog: Catalog
  /** Labels every container and volume this system makes. */
  installationId: string
  close(): Promise<void>
}

/** Loads a credentials file of the data dir, or writes one; explicit values win and are not stored. */
function resolveCredentials(
  dataDir: string,
  given: Partial<BasicCredentials> = {},
  name = 'credentials.json',
  defaultUser = 'broker',
): BasicCredentials {
  const file = path.join(dataDir, name)
  let stored: Partial<BasicCredentials> = {}
  if (existsSync(file)) {
    try {
      stored = JSON.parse(readFileSync(file, 'utf8')) as BasicCredentials
    } catch {
      throw new DbrokerError(`the credentials file ${file} is not valid JSON`, 'delete it to generate new credentials')
    }
  }
  if (!stored.username || !stored.password) {
    stored = {username: defaultUser, password: randomSecret(32)}
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', {mode: 0o600})
  }
  chmodSync(file, 0o600)
  return {username: given.username ?? stored.username!, password: given.password ?? stored.password!}
}

/**
 * `dbroker up`: the broker with an in-process agent for the local engine and
 * an embedded SQLite store. Checks run before anything is served.
 */
export async function startLocal(options: LocalOptions): Promise<LocalSystem> {
  const {log} = options
  const catalog = loadCatalog(options.catalogFile)
  const engine = connectEngine({timeoutMs: 120_000})
  await pingEngine(engine)
  mkdirSync(options.dataDir, {recursive: true, mode: 0o700})
  chmodSync(options.dataDir, 0o700) // also a dir that existed: it holds the store, its key and the credentials
  const credentials = resolveCredentials(options.dataDir, options.credentials)
  const adminCredentials = resolveCredentials(
    options.dataDir,
    options.adminCredentials,
    'admin-credentials.json',
    'admin',
  )

  const store = await openStore(`sqlite:${path.join(options.dataDir, 'dbroker.db')}`)
  // The file seeds an empty store; after that the store's catalog is the one served (and `catalog` becomes it).
  // An image of a private registry is pulled with its stored login.
  const registryLogin = (image: string) => registryLoginFor(store, image)
  let storedCatalog: StoredCatalog
  try {
    storedCatalog = await StoredCatalog.open(store, catalog, log)
    for (const {image, build} of catalog.images()) {
      const how = await ensureImage(
        engine,
        image,
        build,
        (line) => options.onImageProgress?.(image, line),
        registryLogin,
      )
      if (how !== 'present') log.info(`image ${image} ${how}`)
    }
  } catch (error) {
    await store.close()
    throw error
  }
  const installationId = await store.installationId()
  const disks = await InstanceDisks.forHost(engine, {
    disksDir: options.disksDir ?? path.join(options.dataDir, 'disks'),
    log,
  })
  await disks.mountAll()
  const managed =
    options.manageEngine &&
    new ManagedEngine({
      engine,
      pidfile: options.manageEngine.pidfile,
      log,
      checkEveryMs: Math.min(options.keepaliveMs, 1000),
    })
  const docker = new DockerAgent(engine, {
    installation: installationId,
    disks,
    engineControl: managed || UNMANAGED_ENGINE,
    registryLogin,
  })
  // The broker's calls, convergence and the supervisor all go through the guard: none undoes a newer deprovision.
  const host = superviseHost(docker, log)
  const {agent, loop} = host
  host.watch(installationId)
  const register = async () =>
    store.upsertHost({
      id: LOCAL_HOST_ID,
      serviceAddress: options.serviceAddress,
      bindAddress: options.serviceAddress,
      agentUrl: null,
      portMin: options.portRange[0],
      portMax: options.portRange[1],
      zone: null,
      labels: {},
      facts: await agent.facts(),
    })
  await register()

  let broker: RunningBroker
  try {
    broker = await startBroker({
      store,
      catalog,
      credentials,
      agentFor: () => agent,
      log,
      brokerId: LOCAL_HOST_ID,
      keepaliveMs: options.keepaliveMs,
      listen: options.listen,
      plugins: ({provisioner, events}) =>
        adminPlugins({
          store,
          catalog,
          storedCatalog,
          provisioner,
          events,
          agentFor: () => agent,
          credentials: adminCredentials,
          keepaliveMs: options.keepaliveMs,
          log,
        }),
      health: async () => {
        await store.ping()
        await pingEngine(engine)
      },
    })
  } catch (error) {
    if (managed) await managed.stop()
    await store.close()
    throw new DbrokerError(`cannot serve on ${options.listen.host}:${options.listen.port}: ${errorMessage(error)}`)
  }
  const expiry = startBindingExpiry({store, provisioner: broker.provisioner, log})

  // A container convergence (re)made may have a new volume: its binding users come back from the store.
  loop.onApplied(async (instanceIds) => {
    await Promise.all(instanceIds.map((id) => broker.provisioner.replayBindings(id)))
  })
  let firstPass = true
  loop.afterPass((result) => {
    if (!firstPass) return
    firstPass = false
    for (const c of result.unknown)
      log.warn(`container ${c.name} carries dbroker labels but no instance knows it; left alone`)
  })
  const desire = async () => {
    const asOf = agent.currentGeneration()
    loop.want({specs: await broker.provisioner.desiredSpecs(LOCAL_HOST_ID), asOf})
  }
  let stopped = false
  let beat: Promise<unknown> = Promise.resolve()
  // The local host's heartbeat carries the engine's last known facts: a slow engine never makes the host look dead.
  const watch = watchEngine(agent, {everyMs: options.keepaliveMs})
  const report = containerReports({store, events: broker.events})
  const timer = setInterval(() => {
    beat = (async () => {
      const {facts, containers} = watch.report()
      await store.heartbeatHost(LOCAL_HOST_ID, facts)
      if (containers) await report(LOCAL_HOST_ID, containers)
      if (managed) void managed.applyRegistry(await store.registries.desired(LOCAL_HOST_ID))
      if (!stopped) await desire()
    })().catch((error) => log.warn(`heartbeat failed: ${errorMessage(error)}`))
  }, options.keepaliveMs)
  timer.unref()

  // Adopt what the last run left: recreate missing containers, report strangers. The beats go on meanwhile, so a
  // long first pass (containers from an older version made again) doesn't make the host look dead.
  await desire().catch((error: unknown) => {
    clearInterval(timer)
    void expiry.stop()
    throw error
  })
  await loop.settled()

  return {
    broker,
    url: broker.url,
    credentials,
    adminCredentials,
    store,
    catalog,
    installationId,
    async close() {
      stopped = true
      clearInterval(timer)
      await expiry.stop()
      await broker.close()
      await watch.stop()
      await beat
      await host.stop()
      if (managed) await managed.stop()
      await docker
        .releaseNetwork()
        .catch((error) =>
          log.warn(`cannot remove the network of installation ${installationId}: ${errorMessage(error)}`),
        )
      await store.close()
    },
  }
}
