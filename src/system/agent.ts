import {readFileSync, statSync} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'

import {z} from 'zod'

import {buildAgentApi} from '../agent/api.js'
import {DockerAgent} from '../agent/docker-agent.js'
import {type Heartbeats, startHeartbeats} from '../agent/heartbeat.js'
import {InstanceDisks} from '../agent/instance-disks.js'
import {ManagedEngine, UNMANAGED_ENGINE} from '../agent/managed-engine.js'
import {remoteRegistryLogin} from '../agent/registry-login.js'
import {superviseHost} from '../agent/supervised-host.js'
import {DbrokerError, errorMessage, UsageError} from '../core/errors.js'
import {HOST_ID_PATTERN, isHostToken} from '../core/host-identity.js'
import type {Logger} from '../core/log.js'
import {cleartextProblem, isLoopback} from '../core/transport-security.js'
import {connectEngine, describeEngine, pingEngine} from '../docker/engine.js'
import {ConfigError, loadConfig} from './config-file.js'
import {bytes, duration, listenAddress, portRange, readPem, tlsFiles} from './settings.js'

const NOT_A_HOST_TOKEN = 'not a host token (dbh_...): the operator makes one per host with `dbroker hosts add HOST`'

export const agentConfigSchema = z.strictObject({
  /** The host's name in the broker; the machine's host name by default. */
  id: z
    .string()
    .regex(HOST_ID_PATTERN, 'use letters, digits, ".", "_" and "-"')
    .default(() => hostname()),
  docker: z
    .strictObject({
      host: z
        .string()
        .regex(/^(unix|tcp):\/\/|^\//, 'use unix:///path/docker.sock or tcp://HOST:PORT')
        .optional(),
      tls: z.strictObject({ca: z.string().optional(), cert: z.string(), key: z.string()}).optional(),
    })
    .default({}),
  /** Written into credentials: where applications reach this host's containers. */
  service_address: z.string().min(1),
  /** Where published ports bind; the service address by default. */
  bind_address: z.string().min(1).optional(),
  port_range: portRange.default([40000, 40999]),
  capacity: z
    .strictObject({max_containers: z.number().int().positive().optional(), memory: bytes.optional()})
    .default({}),
  zone: z.string().min(1).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  brokers: z.array(z.url()).min(1, 'name at least one broker URL'),
  /** CA that signed the brokers' certificates, when it is not a public one. */
  broker_ca: z.string().optional(),
  /** This host's own token, from `dbroker hosts add`; better kept in `token_file` than in this file. */
  token: z.string().refine(isHostToken, NOT_A_HOST_TOKEN).optional(),
  /** A file (0600) holding this host's token. */
  token_file: z.string().min(1).optional(),
  keepalive: duration.default(5000),
  /** Longest time between heartbeat attempts while no broker answers; 2 x keepalive by default. */
  max_backoff: duration.optional(),
  /** Where the agent API listens: loopback unless told otherwise. */
  listen: listenAddress.default({host: '127.0.0.1', port: 9997}),
  /** How brokers reach this agent; from the listen address (the service address when that is a wildcard) by default. */
  url: z.url().optional(),
  tls: tlsFiles.optional(),
  /** Allow plain http off loopback (brokers, this agent's API) and a tcp:// engine without TLS. */
  insecure: z.boolean().default(false),
  /** Where loop disks live (outside the engine's data root); `disk_driver` for specs that name none. */
  disks_dir: z.string().startsWith('/', 'must be an absolute path').optional(),
  disk_driver: z.enum(['loop', 'volume']).optional(),
  /** Start dockerd again when it stops (as it ran: its pidfile tells which) and write the broker's registry settings into its daemon.json. */
  manage_engine: z.boolean().default(false),
  engine_pidfile: z.string().startsWith('/', 'must be an absolute path').default('/var/run/docker.pid'),
})

export type AgentConfig = z.output<typeof agentConfigSchema> & {token: string}

export function loadAgentConfig(file: string | undefined, overrides: Record<string, unknown>): AgentConfig {
  const config = loadConfig(agentConfigSchema, file, overrides)
  // Paths in a config file are relative to it.
  const base = file ? path.dirname(path.resolve(file)) : process.cwd()
  const resolve = (p: string) => path.resolve(base, p)
  const dockerTls = config.docker.tls
  const tokenFile = config.token_file && resolve(config.token_file)
  return {
    ...config,
    token: hostToken(config.token, tokenFile, file ?? 'from flags'),
    token_file: tokenFile,
    docker: {
      ...config.docker,
      tls: dockerTls && {
        ca: dockerTls.ca && resolve(dockerTls.ca),
        cert: resolve(dockerTls.cert),
        key: resolve(dockerTls.key),
      },
    },
    broker_ca: config.broker_ca && resolve(config.broker_ca),
    tls: config.tls && {cert: resolve(config.tls.cert), key: resolve(config.tls.key)},
  }
}

/** The token given, or read from its file; exactly one of the two. */
function hostToken(given: string | undefined, file: string | undefined, where: string): string {
  if (given && file)
    throw new ConfigError(where, [{path: 'token_file', message: 'give the token or a token file, not both'}])
  if (given) return given
  if (!file)
    throw new ConfigError(where, [
      {
        path: 'token',
        message: 'this host needs its token: --token-file FILE (or DBROKER_AGENT_TOKEN), from `dbroker hosts add HOST`',
      },
    ])
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new UsageError(
      `cannot read the token file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  if (!isHostToken(text))
    throw new ConfigError(where, [{path: 'token_file', message: `${file} holds ${NOT_A_HOST_TOKEN}`}])
  return text
}

/**
 * Plain http off loopback and a tcp engine without TLS carry secrets (or a
 * root-equivalent API) in clear: refused unless `insecure`, then said loudly.
 */
function checkTransport(config: AgentConfig, url: string, log: Logger): void {
  const listensInClear = !config.tls && !isLoopback(config.listen.host)
  const ownUrl = listensInClear
    ? `the agent API serves plain http on ${config.listen.host}:${config.listen.port}`
    : cleartextProblem(url)
  const problems = [
    ...config.brokers.map((broker) => cleartextProblem(broker)).filter((p) => p !== undefined),
    ...(ownUrl ? [ownUrl] : []),
    ...(config.docker.host?.startsWith('tcp://') && !config.docker.tls
      ? [`the engine ${config.docker.host} is tcp without TLS: anyone who reaches it is root on the host`]
      : []),
  ]
  if (problems.length > 0) {
    if (!config.insecure)
      throw new UsageError(
        `${problems.join('; ')}: refused`,
        'use https:// brokers, --tls-cert/--tls-key for the agent API, --docker-tls-* for a tcp engine; or accept the risk with --insecure',
      )
    log.warn(`INSECURE: ${problems.join('; ')}`)
  }
  if (isLoopback(config.listen.host) && config.brokers.some((b) => !isLoopback(new URL(b).hostname))) {
    log.warn(
      `the agent API listens on ${config.listen.host} only: brokers on other machines cannot reach it; give --listen ADDRESS:PORT`,
    )
  }
}

function warnIfShared(file: string | undefined, log: Logger): void {
  if (!file) return
  const mode = statSync(file).mode & 0o777
  if (mode & 0o077) log.warn(`the token file ${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`)
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
  const wildcard = config.listen.host === '0.0.0.0' || config.listen.host === '::'
  const advertised = wildcard ? config.service_address : config.listen.host
  const urlFor = (port: number) =>
    config.url ??
    `${config.tls ? 'https' : 'http'}://${advertised.includes(':') ? `[${advertised}]` : advertised}:${port}`
  checkTransport(config, urlFor(config.listen.port), log)
  warnIfShared(config.token_file, log)
  const tls = config.docker.tls
  const engine = connectEngine({
    host: config.docker.host,
    timeoutMs: 120_000,
    tls: tls && {
      ca: tls.ca && readPem(tls.ca, 'docker.tls.ca').toString(),
      cert: readPem(tls.cert, 'docker.tls.cert').toString(),
      key: readPem(tls.key, 'docker.tls.key').toString(),
    },
  })
  await pingEngine(engine)
  const bindAddress = config.bind_address ?? config.service_address
  const disks = await InstanceDisks.forHost(engine, {
    disksDir: config.disks_dir,
    defaultDriver: config.disk_driver,
    log,
  })
  // Before the first heartbeat brings convergence: a host whose engine was wiped finds its data again.
  await disks.mountAll()
  const managed = config.manage_engine
    ? new ManagedEngine({engine, pidfile: config.engine_pidfile, log, checkEveryMs: Math.min(config.keepalive, 1000)})
    : undefined
  const ca = config.broker_ca ? readPem(config.broker_ca, 'broker_ca') : undefined
  const docker = new DockerAgent(engine, {
    ...(bindAddress === '0.0.0.0' ? {} : {probeAddress: bindAddress}),
    disks,
    engineControl: managed ?? UNMANAGED_ENGINE,
    registryLogin: remoteRegistryLogin({hostId: config.id, brokers: config.brokers, token: config.token, ca, log}),
  })
  // The broker's calls, convergence and the supervisor all go through the guard: none undoes a newer DELETE.
  const host = superviseHost(docker, log)
  const {agent, loop} = host
  const https = config.tls && {cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key')}

  let heartbeats: Heartbeats | undefined
  const api = buildAgentApi({
    agent,
    hostToken: config.token,
    log,
    https,
    onProbed: () => heartbeats?.wake(),
  })
  try {
    await api.listen({host: config.listen.host, port: config.listen.port})
  } catch (error) {
    await managed?.stop()
    throw new DbrokerError(
      `the agent cannot listen on ${config.listen.host}:${config.listen.port}: ${errorMessage(error)}`,
    )
  }
  const address = api.server.address()
  const port = typeof address === 'object' && address ? address.port : config.listen.port
  const url = urlFor(port)

  heartbeats = startHeartbeats({
    agent,
    loop,
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
    onInstallation: (id) => {
      docker.useInstallation(id)
      host.watch(id)
    },
    ca,
    maxBackoffMs: config.max_backoff,
    onRegistry: (settings) => void managed?.applyRegistry(settings),
    log,
  })
  log.info(
    `agent for host ${config.id} serves ${url}, engine ${describeEngine(engine)}, heartbeat every ${config.keepalive} ms to ${config.brokers.join(', ')}`,
  )
  return {
    url,
    heartbeats,
    async close() {
      await heartbeats.stop()
      await host.stop()
      await managed?.stop()
      await api.close()
    },
  }
}
