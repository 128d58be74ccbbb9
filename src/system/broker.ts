import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import path from 'node:path'

import {z} from 'zod'

import {agentRoutes} from '../broker/agents.js'
import {registryAuthRoutes} from '../broker/registries.js'
import {bridgeEvents} from '../broker/event-bridge.js'
import {BrokerEvents} from '../broker/events.js'
import {startBindingExpiry} from '../broker/lifecycle/binding-expiry.js'
import {startBrokerLease, startHostSweeper, startReachabilityProbes} from '../broker/liveness.js'
import {Reachability, reachableStore, watchedAgent} from '../broker/reachability.js'
import {type RunningBroker, startBroker} from '../broker/server.js'
import {StoredCatalog} from '../broker/stored-catalog.js'
import {type Catalog, loadCatalog} from '../catalog/index.js'
import {HttpAgentClient} from '../client/agent-http.js'
import type {AgentClient} from '../core/agent.js'
import {DbrokerError, EngineError, errorMessage, UsageError} from '../core/errors.js'
import {brokerCredential} from '../core/host-identity.js'
import type {Logger} from '../core/log.js'
import {cleartextProblem, isLoopback} from '../core/transport-security.js'
import type {Host} from '../core/types.js'
import {hostIdentities, openStore, type Store, StoreKeyError} from '../store/index.js'
import {adminPlugins} from './admin-plugins.js'
import {loadConfig} from './config-file.js'
import {credentials, duration, listenAddress, readPem, tlsFiles} from './settings.js'

export const brokerConfigSchema = z
  .strictObject({
    /** Names this broker's operations in a shared store; unique per process by default. */
    id: z
      .string()
      .min(1)
      .default(() => `${hostname()}-${randomBytes(3).toString('hex')}`),
    listen: listenAddress.default({host: '127.0.0.1', port: 9998}),
    /** How agents and clients reach this broker, when not the listen address. */
    url: z.url().optional(),
    tls: tlsFiles.optional(),
    osb: credentials,
    /** The operator's API: its own credentials, never the platform's. */
    admin: z.strictObject(credentials.shape, {
      error: (issue) =>
        issue.input === undefined
          ? 'the admin API needs its own credentials: set admin.username and admin.password (or --admin-username and DBROKER_ADMIN_PASSWORD), distinct from the OSB ones'
          : undefined,
    }),
    /** Serve plain http off loopback, and accept agents whose API is plain http. */
    insecure: z.boolean().default(false),
    /** CA that signed the agents' certificates, when it is not a public one. */
    agent_ca: z.string().optional(),
    store: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'use sqlite:PATH or postgres://USER@HOST/DB'),
    /** Keys the store's secrets are encrypted with, one per line, newest first; DBROKER_STORE_KEY or store.key beside a SQLite store otherwise. */
    store_key_file: z.string().optional(),
    catalog: z.string().optional(),
    placement: z.enum(['spread', 'binpack', 'random']).default('spread'),
    /** Expected heartbeat interval of agents that don't announce one; also the sweep and lease period. */
    keepalive: duration.default(5000),
  })
  .superRefine((config, ctx) => {
    if (config.admin.password === config.osb.password) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'password'],
        message:
          'must differ from osb.password: whoever holds the OSB credentials (the platform) must not reach the admin API',
      })
    }
  })

export type BrokerConfig = z.output<typeof brokerConfigSchema>

export function loadBrokerConfig(file: string | undefined, overrides: Record<string, unknown>): BrokerConfig {
  const config = loadConfig(brokerConfigSchema, file, overrides)
  // Paths in a config file are relative to it.
  const base = file ? path.dirname(path.resolve(file)) : process.cwd()
  const resolve = (p: string | undefined) => p && path.resolve(base, p)
  return {
    ...config,
    catalog: resolve(config.catalog),
    agent_ca: resolve(config.agent_ca),
    store_key_file: resolve(config.store_key_file),
    tls: config.tls && {cert: resolve(config.tls.cert)!, key: resolve(config.tls.key)!},
    store:
      config.store.startsWith('sqlite:') && config.store !== 'sqlite::memory:'
        ? `sqlite:${resolve(config.store.slice(7))}`
        : config.store,
  }
}

/** Plain http off the loopback interface carries every password in clear text: only with `insecure`, and said loudly. */
function checkTransport(config: BrokerConfig, log: Logger): void {
  if (config.tls) return
  const problems = [
    ...(isLoopback(config.listen.host)
      ? []
      : [`the broker serves plain http on ${config.listen.host}:${config.listen.port}`]),
    ...(config.url && cleartextProblem(config.url) ? [cleartextProblem(config.url)!] : []),
  ]
  if (problems.length === 0) return
  if (!config.insecure)
    throw new UsageError(
      `${problems.join('; ')}: refused`,
      'serve HTTPS with --tls-cert and --tls-key, listen on 127.0.0.1, or accept the risk with --insecure',
    )
  log.warn(`INSECURE: ${problems.join('; ')}; OSB, admin and agent credentials cross the network unencrypted`)
}

export interface BrokerProcess {
  broker: RunningBroker
  url: string
  store: Store
  catalog: Catalog
  close(): Promise<void>
}

/**
 * `dbroker broker start`: the broker alone, reaching each host's agent over
 * HTTP, on a SQLite or a shared PostgreSQL store. With PostgreSQL, several
 * of these serve interchangeably.
 */
export async function startBrokerProcess(config: BrokerConfig, log: Logger): Promise<BrokerProcess> {
  checkTransport(config, log)
  const catalog = loadCatalog(config.catalog)
  const https = config.tls && {cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key')}
  const agentCa = config.agent_ca ? readPem(config.agent_ca, 'agent_ca') : undefined
  let store: Store
  try {
    store = await openStore(config.store, {keyFile: config.store_key_file})
  } catch (error) {
    if (error instanceof StoreKeyError) throw error // its message and hint already say which key and how to give it
    throw new DbrokerError(
      `cannot open the store ${config.store.replace(/\/\/[^@/]*@/, '//***@')}: ${errorMessage(error)}`,
    )
  }
  // The file seeds an empty store; after that the store's catalog is the one served (and `catalog` becomes it).
  const storedCatalog = await StoredCatalog.open(store, catalog, log).catch(async (error: unknown) => {
    await store.close()
    throw error
  })

  const events = new BrokerEvents()
  const reachability = new Reachability({events, log})
  const clients = new Map<string, HttpAgentClient>()
  const clientFor = (host: Host): HttpAgentClient => {
    if (!host.agentUrl) throw new EngineError(`host ${host.id} has no agent URL; start \`dbroker agent start\` on it`)
    const key = `${host.id} ${host.agentUrl}`
    let client = clients.get(key)
    if (!client) {
      // Looked up per call: a token the operator rotated or revoked takes effect at once, on every broker.
      const credential = async () => {
        const hash = await hostIdentities.tokenHashOf(store, host.id)
        if (!hash)
          throw new EngineError(
            `host ${host.id} is not enrolled: its agent cannot be called`,
            `enroll it with \`dbroker hosts add ${host.id}\``,
          )
        return brokerCredential(hash)
      }
      // A followed log stream quiet for two keepalives has the agent probed: one gone unreachable ends it.
      client = watchedAgent(
        new HttpAgentClient(host.id, host.agentUrl, {
          credential,
          ca: agentCa,
          reached: (id, failure) => reachability.reached(id, failure),
          cancelled: (id) => reachability.callSignal(id),
          // A call unanswered for two keepalives has the agent probed: answers that stopped mid-call end it.
          deadlines: {watchMs: Math.max(1000, 2 * config.keepalive)},
        }),
        {hostId: host.id, reachability, idleMs: 2 * config.keepalive, log},
      )
      clients.set(key, client)
    }
    return client
  }
  const agentFor = (host: Host): AgentClient => clientFor(host)
  // What the provisioner and the admin API act on: hosts with this broker's view of its own calls to them.
  const seen = reachableStore(store, reachability, config.keepalive)
  const admin = config.admin
  let broker: RunningBroker
  try {
    broker = await startBroker({
      store: seen,
      events,
      catalog,
      credentials: config.osb,
      agentFor,
      log,
      brokerId: config.id,
      keepaliveMs: config.keepalive,
      strategy: config.placement,
      listen: config.listen,
      https,
      health: () => store.ping(),
      plugins: ({provisioner, events}) => [
        ...adminPlugins({
          store: seen,
          catalog,
          storedCatalog,
          provisioner,
          events,
          agentFor,
          credentials: admin,
          keepaliveMs: config.keepalive,
          log,
        }),
        agentRoutes({store, provisioner, events, insecure: config.insecure, keepaliveMs: config.keepalive, log}),
        registryAuthRoutes({store, catalog, log}),
      ],
    })
  } catch (error) {
    await store.close()
    throw new DbrokerError(`cannot serve on ${config.listen.host}:${config.listen.port}: ${errorMessage(error)}`)
  }
  const url = config.url ?? broker.url
  const unbridge = store.channel ? await bridgeEvents(broker.events, store.channel, config.id, log) : undefined
  const sweeper = startHostSweeper({store, events: broker.events, keepaliveMs: config.keepalive, log})
  const expiry = startBindingExpiry({store, provisioner: broker.provisioner, log})
  const probes = startReachabilityProbes({
    store,
    reachability,
    probe: (host) => clientFor(host).probe(),
    keepaliveMs: config.keepalive,
    log,
  })
  const lease = startBrokerLease({
    store,
    provisioner: broker.provisioner,
    brokerId: config.id,
    url,
    leaseMs: config.keepalive,
    log,
  })
  log.info(`broker ${config.id} serves ${url} on the ${store.dialect} store, placement ${config.placement}`)

  return {
    broker,
    url,
    store,
    catalog,
    async close() {
      await sweeper.stop()
      await expiry.stop()
      await probes.stop()
      await broker.close()
      await lease.stop()
      unbridge?.()
      await store.close()
    },
  }
}
