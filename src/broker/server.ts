import type {FastifyInstance} from 'fastify'

import type {Catalog} from '../catalog/index.js'
import type {AgentClient} from '../core/agent.js'
import type {Logger} from '../core/log.js'
import type {Host} from '../core/types.js'
import type {Store} from '../store/index.js'
import {buildBrokerApp, type BrokerAppOptions} from './app.js'
import type {BasicCredentials} from '../core/http-auth.js'
import {BrokerEvents} from './events.js'
import type {PlacementStrategy} from './placement.js'
import {Provisioner} from './lifecycle/index.js'

export interface BrokerOptions {
  store: Store
  catalog: Catalog
  credentials: BasicCredentials
  agentFor: (host: Host) => AgentClient
  log: Logger
  brokerId: string
  keepaliveMs: number
  strategy?: PlacementStrategy
  health: () => Promise<void>
  listen: {host: string; port: number}
  https?: {key: string | Buffer; cert: string | Buffer}
  /** The broker's change events, when the caller needs them before the broker starts. */
  events?: BrokerEvents
  /** More route plugins (admin, agents); they get the broker's provisioner and events. */
  plugins?: (broker: {provisioner: Provisioner; events: BrokerEvents}) => BrokerAppOptions['plugins']
}

export interface RunningBroker {
  url: string
  app: FastifyInstance
  provisioner: Provisioner
  events: BrokerEvents
  /** Stops taking requests, lets running operations end (up to `graceMs`), closes the HTTP server. */
  close(graceMs?: number): Promise<void>
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const events = options.events ?? new BrokerEvents()
  const provisioner = new Provisioner({...options, events})
  const app = buildBrokerApp({...options, provisioner, plugins: options.plugins?.({provisioner, events})})
  // Take back what the last run left before serving: a request must not see those operations as another broker's.
  const resumed = await provisioner.resume()
  if (resumed > 0) options.log.info(`resumed ${resumed} operation(s) left in progress`)
  await app.listen({host: options.listen.host, port: options.listen.port})
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.listen.port
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host
  return {
    url: `${options.https ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    app,
    provisioner,
    events,
    async close(graceMs = 30_000) {
      const closing = app.close()
      await provisioner.drain(graceMs)
      await closing
    },
  }
}
