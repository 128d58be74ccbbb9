import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import path from 'node:path'

import {z} from 'zod'

import {agentRoutes} from '../broker/agents.js'
import {bridgeEvents} from '../broker/event-bridge.js'
import {startBrokerLease, startHostSweeper} from '../broker/liveness.js'
import {type RunningBroker, startBroker} from '../broker/server.js'
import {type Catalog, loadCatalog} from '../catalog/index.js'
import {HttpAgentClient} from '../client/agent-http.js'
import type {AgentClient} from '../core/agent.js'
import {DbrokerError, EngineError, errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Host} from '../core/types.js'
import {openStore, type Store} from '../store/index.js'
import {adminPlugins} from './admin-plugins.js'
import {loadConfig} from './config-file.js'
import {credentials, duration, listenAddress, readPem, tlsFiles} from './settings.js'

export const brokerConfigSchema = z.strictObject({
  /** Names this broker's operations in a shared store; unique per process by default. */
  id: z.string().min(1).default(() => `${hostname()}-${randomBytes(3).toString('hex')}`),
  listen: listenAddress.default({host: '127.0.0.1', port: 9998}),
  /** How agents and clients reach this broker, when not the listen address. */
  url: z.url().optional(),
  tls: tlsFiles.optional(),
  osb: credentials,
  /** The operator's API; the OSB credentials by default. */
  admin: credentials.optional(),
  agent_token: z.string().min(16, 'use at least 16 characters'),
  /** CA that signed the agents' certificates, when it is not a public one. */
  agent_ca: z.string().optional(),
  store: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'use sqlite:PATH or postgres://USER@HOST/DB'),
  catalog: z.string().optional(),
  placement: z.enum(['spread', 'binpack', 'random']).default('spread'),
  /** Expected heartbeat interval of agents that don't announce one; also the sweep and lease period. */
  keepalive: duration.default(5000),
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
    tls: config.tls && {cert: resolve(config.tls.cert)!, key: resolve(config.tls.key)!},
    store: config.store.startsWith('sqlite:') ? `sqlite:${resolve(config.store.slice(7))}` : config.store,
  }
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
  const catalog = loadCatalog(config.catalog)
  const https = config.tls && {cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key')}
  const agentCa = config.agent_ca ? readPem(config.agent_ca, 'agent_ca') : undefined
  let store: Store
  try {
    store = await openStore(config.store)
  } catch (error) {
    throw new DbrokerError(`cannot open the store ${config.store.replace(/\/\/[^@/]*@/, '//***@')}: ${errorMessage(error)}`)
  }

  const clients = new Map<string, HttpAgentClient>()
  const agentFor = (host: Host): AgentClient => {
    if (!host.agentUrl) throw new EngineError(`host ${host.id} has no agent URL; start \`dbroker agent start\` on it`)
    const key = `${host.id} ${host.agentUrl}`
    let client = clients.get(key)
    if (!client) {
      client = new HttpAgentClient(host.id, host.agentUrl, {token: config.agent_token, ca: agentCa})
      clients.set(key, client)
    }
    return client
  }
  const admin = config.admin ?? config.osb
  let broker: RunningBroker
  try {
    broker = await startBroker({
      store,
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
        ...adminPlugins({store, catalog, provisioner, events, agentFor, credentials: admin, keepaliveMs: config.keepalive, log}),
        agentRoutes({store, provisioner, events, token: config.agent_token, keepaliveMs: config.keepalive, log}),
      ],
    })
  } catch (error) {
    await store.close()
    throw new DbrokerError(`cannot serve on ${config.listen.host}:${config.listen.port}: ${errorMessage(error)}`)
  }
  const url = config.url ?? broker.url
  const unbridge = store.channel ? await bridgeEvents(broker.events, store.channel, config.id, log) : undefined
  const sweeper = startHostSweeper({store, events: broker.events, keepaliveMs: config.keepalive, log})
  const lease = startBrokerLease({store, provisioner: broker.provisioner, brokerId: config.id, url, leaseMs: config.keepalive, log})
  log.info(`broker ${config.id} serves ${url} on the ${store.dialect} store, placement ${config.placement}`)

  return {
    broker,
    url,
    store,
    catalog,
    async close() {
      await sweeper.stop()
      await broker.close()
      await lease.stop()
      unbridge?.()
      await store.close()
    },
  }
}
