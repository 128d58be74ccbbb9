import {hostname} from 'node:os'
import path from 'node:path'

import {z} from 'zod'

import {buildAgentApi} from '../agent/api.js'
import {DockerAgent} from '../agent/docker-agent.js'
import {type Heartbeats, startHeartbeats} from '../agent/heartbeat.js'
import {DbrokerError, errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import {connectEngine, describeEngine, pingEngine} from '../docker/engine.js'
import {loadConfig} from './config-file.js'
import {bytes, duration, listenAddress, portRange, readPem, tlsFiles} from './settings.js'

export const agentConfigSchema = z.strictObject({
  /** The host's name in the broker; the machine's host name by default. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'use letters, digits, ".", "_" and "-"').default(() => hostname()),
  docker: z
    .strictObject({
      host: z.string().regex(/^(unix|tcp):\/\/|^\//, 'use unix:///path/docker.sock or tcp://HOST:PORT').optional(),
      tls: z.strictObject({ca: z.string().optional(), cert: z.string(), key: z.string()}).optional(),
    })
    .default({}),
  /** Written into credentials: where applications reach this host's containers. */
  service_address: z.string().min(1),
  /** Where published ports bind; the service address by default. */
  bind_address: z.string().min(1).optional(),
  port_range: portRange.default([40000, 40999]),
  capacity: z.strictObject({max_containers: z.number().int().positive().optional(), memory: bytes.optional()}).default({}),
  zone: z.string().min(1).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  brokers: z.array(z.url()).min(1, 'name at least one broker URL'),
  /** CA that signed the brokers' certificates, when it is not a public one. */
  broker_ca: z.string().optional(),
  token: z.string().min(16, 'use at least 16 characters'),
  keepalive: duration.default(5000),
  listen: listenAddress.default({host: '0.0.0.0', port: 9997}),
  /** How brokers reach this agent; from the service address and listen port by default. */
  url: z.url().optional(),
  tls: tlsFiles.optional(),
})

export type AgentConfig = z.output<typeof agentConfigSchema>

export function loadAgentConfig(file: string | undefined, overrides: Record<string, unknown>): AgentConfig {
  const config = loadConfig(agentConfigSchema, file, overrides)
  // Paths in a config file are relative to it.
  const base = file ? path.dirname(path.resolve(file)) : process.cwd()
  const resolve = (p: string) => path.resolve(base, p)
  const dockerTls = config.docker.tls
  return {
    ...config,
    docker: {...config.docker, tls: dockerTls && {ca: dockerTls.ca && resolve(dockerTls.ca), cert: resolve(dockerTls.cert), key: resolve(dockerTls.key)}},
    broker_ca: config.broker_ca && resolve(config.broker_ca),
    tls: config.tls && {cert: resolve(config.tls.cert), key: resolve(config.tls.key)},
  }
}

export interface RunningAgent {
  url: string
  heartbeats: Heartbeats
  close(): Promise<void>
}

/**
 * `dbroker agent start`: the host's Docker engine behind the agent API, and
 * the heartbeat that registers the host and converges it to what the broker
 * wants.
 */
export async function startAgentProcess(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const tls = config.docker.tls
  const engine = connectEngine({
    host: config.docker.host,
    timeoutMs: 120_000,
    tls: tls && {ca: tls.ca && readPem(tls.ca, 'docker.tls.ca').toString(), cert: readPem(tls.cert, 'docker.tls.cert').toString(), key: readPem(tls.key, 'docker.tls.key').toString()},
  })
  await pingEngine(engine)
  const bindAddress = config.bind_address ?? config.service_address
  const agent = new DockerAgent(engine, bindAddress === '0.0.0.0' ? {} : {probeAddress: bindAddress})
  const https = config.tls && {cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key')}

  let heartbeats: Heartbeats | undefined
  const api = buildAgentApi({agent, token: config.token, log, https, onTouched: (id) => heartbeats?.touched(id)})
  try {
    await api.listen({host: config.listen.host, port: config.listen.port})
  } catch (error) {
    throw new DbrokerError(`the agent cannot listen on ${config.listen.host}:${config.listen.port}: ${errorMessage(error)}`)
  }
  const address = api.server.address()
  const port = typeof address === 'object' && address ? address.port : config.listen.port
  const url = config.url ?? `${https ? 'https' : 'http'}://${config.service_address.includes(':') ? `[${config.service_address}]` : config.service_address}:${port}`

  heartbeats = startHeartbeats({
    agent,
    registration: {
      id: config.id,
      agentUrl: url,
      serviceAddress: config.service_address,
      bindAddress,
      portRange: config.port_range,
      zone: config.zone ?? null,
      labels: config.labels,
      capacity: {maxContainers: config.capacity.max_containers ?? null, memoryBytes: config.capacity.memory ?? null},
      keepaliveMs: config.keepalive,
    },
    brokers: config.brokers,
    token: config.token,
    onInstallation: (id) => agent.useInstallation(id),
    ca: config.broker_ca ? readPem(config.broker_ca, 'broker_ca') : undefined,
    log,
  })
  log.info(`agent for host ${config.id} serves ${url}, engine ${describeEngine(engine)}, heartbeat every ${config.keepalive} ms to ${config.brokers.join(', ')}`)
  return {
    url,
    heartbeats,
    async close() {
      await heartbeats.stop()
      await api.close()
    },
  }
}
