// Over 300 lines on purpose: the one place that speaks to dockerode (images, containers, exec, facts), kept together.
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {PassThrough} from 'node:stream'

import Docker from 'dockerode'

import type {ExecResult} from '../core/agent.js'
import type {ContainerStats} from '../core/admin.js'
import {EngineError} from '../core/errors.js'
import type {BuildSource, ContainerState, ContainerStatus, Health, HostFacts} from '../core/types.js'
import type {RegistryAuth} from '../core/registries.js'
import {LABEL_INSTANCE, LABEL_SPEC} from './container-options.js'
import {type RegistryLoginLookup, throwIfRefused} from './registry-pull.js'

export type Engine = Docker
export type {ContainerInspectInfo} from 'dockerode'

export {createOptions, LABEL_INSTALLATION, LABEL_INSTANCE, LABEL_SPEC, madeFrom, specHash} from './container-options.js'

export interface EngineOptions {
  /** unix:///path, tcp://host:port or a bare socket path; DOCKER_HOST when absent. */
  host?: string
  tls?: {ca?: string; cert?: string; key?: string}
  timeoutMs?: number
}

export function connectEngine(options: EngineOptions = {}): Engine {
  const target = options.host ?? process.env.DOCKER_HOST
  if (!target) return new Docker({socketPath: '/var/run/docker.sock', timeout: options.timeoutMs})
  if (target.startsWith('unix://') || target.startsWith('/')) {
    return new Docker({socketPath: target.replace(/^unix:\/\//, ''), timeout: options.timeoutMs})
  }
  const url = new URL(target.replace(/^tcp:/, options.tls ? 'https:' : 'http:'))
  return new Docker({
    protocol: options.tls ? 'https' : 'http',
    host: url.hostname,
    port: Number(url.port || (options.tls ? 2376 : 2375)),
    ca: options.tls?.ca,
    cert: options.tls?.cert,
    key: options.tls?.key,
    timeout: options.timeoutMs,
  })
}

export function describeEngine(engine: Engine): string {
  const modem = engine.modem as {socketPath?: string; host?: string; port?: number}
  return modem.socketPath ? `unix://${modem.socketPath}` : `tcp://${modem.host}:${modem.port}`
}

/** Fails with a message that says how to get an engine when none answers. */
export async function pingEngine(engine: Engine): Promise<void> {
  try {
    await engine.ping()
  } catch (error) {
    throw new EngineError(
      `the Docker engine at ${describeEngine(engine)} is not reachable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      'start one with `sudo scripts/docker-engine.sh`, or point DOCKER_HOST at a running engine',
    )
  }
}

export async function engineFacts(engine: Engine): Promise<HostFacts> {
  const info = await engine.info()
  const registry = info.RegistryConfig ?? {}
  return {
    engineVersion: info.ServerVersion,
    cpus: info.NCPU,
    memoryBytes: info.MemTotal,
    containersRunning: info.ContainersRunning,
    registryMirrors: registry.Mirrors ?? [],
    insecureRegistries: registry.InsecureRegistryCIDRs
      ? [
          ...(registry.IndexConfigs
            ? Object.values(registry.IndexConfigs as Record<string, {Name: string; Secure: boolean}>)
                .filter((i) => !i.Secure)
                .map((i) => i.Name)
            : []),
          ...registry.InsecureRegistryCIDRs,
        ]
      : [],
    loggingDriver: info.LoggingDriver,
    os: info.OperatingSystem,
  }
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), {withFileTypes: true}).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    return entry.isDirectory() ? filesUnder(dir, rel) : [rel]
  })
}

async function followStream(
  engine: Engine,
  stream: NodeJS.ReadableStream,
  onProgress?: (line: string) => void,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    engine.modem.followProgress(
      stream,
      (error: Error | null, events: Array<{error?: string; errorDetail?: {message: string}}>) => {
        const failed = error?.message ?? events.find((e) => e.error)?.error
        if (failed) reject(new Error(failed))
        else resolve()
      },
      (event: {stream?: string; status?: string; progress?: string; id?: string}) => {
        const line = (event.stream ?? [event.id, event.status, event.progress].filter(Boolean).join(' ')).trim()
        if (line && onProgress) onProgress(line)
      },
    )
  })
}

export async function imageExists(engine: Engine, image: string): Promise<boolean> {
  try {
    await engine.getImage(image).inspect()
    return true
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode === 404) return false
    throw error
  }
}

export async function buildImage(
  engine: Engine,
  image: string,
  build: BuildSource,
  onProgress?: (line: string) => void,
): Promise<void> {
  if (build.inline !== undefined) {
    // An inline Dockerfile is built without a context: a directory holding only it.
    const context = mkdtempSync(path.join(tmpdir(), 'dbroker-build-'))
    try {
      writeFileSync(path.join(context, 'Dockerfile'), build.inline)
      return await buildImage(engine, image, {context, args: build.args}, onProgress)
    } finally {
      rmSync(context, {recursive: true, force: true})
    }
  }
  let src: string[]
  try {
    src = filesUnder(build.context)
  } catch (error) {
    throw new EngineError(
      `cannot read the build context ${build.context} for ${image}: ${(error as NodeJS.ErrnoException).code}`,
    )
  }
  const stream = await engine.buildImage(
    {context: build.context, src},
    {t: image, dockerfile: build.dockerfile, buildargs: build.args, rm: true, forcerm: true},
  )
  await followStream(engine, stream, onProgress)
}

export async function pullImage(
  engine: Engine,
  image: string,
  onProgress?: (line: string) => void,
  auth?: RegistryAuth,
): Promise<void> {
  const stream = await engine.pull(image, auth ? {authconfig: auth} : {})
  await followStream(engine, stream, onProgress)
}

/**
 * Makes sure `image` is on the engine: present, else built from the plan's
 * context (the catalog ships it, so a registry copy of that tag would be the
 * wrong image), else pulled. The error names the image and every way tried.
 */
export async function ensureImage(
  engine: Engine,
  image: string,
  build?: BuildSource,
  onProgress?: (line: string) => void,
  loginFor?: RegistryLoginLookup,
): Promise<'present' | 'built' | 'pulled'> {
  if (await imageExists(engine, image)) return 'present'
  const tried: string[] = []
  if (build) {
    onProgress?.(`building ${image} from ${build.context}`)
    try {
      await buildImage(engine, image, build, onProgress)
      return 'built'
    } catch (error) {
      tried.push(`build from ${build.context}: ${(error as Error).message.trim()}`)
    }
  }
  onProgress?.(`pulling ${image}`)
  const auth = await loginFor?.(image)
  try {
    await pullImage(engine, image, onProgress, auth)
    return 'pulled'
  } catch (error) {
    throwIfRefused(error, image, auth)
    tried.push(`pull: ${(error as Error).message.trim().split('\n')[0]}`)
  }
  throw new EngineError(`image ${image} is not on the engine and could not be made (${tried.join('; ')})`)
}

/** What a create (the image) or start (the network) missed on the engine, by its 404; undefined for any other failure. */
export function missingOnEngine(error: unknown): 'image' | 'network' | undefined {
  const {statusCode, message} = error as {statusCode?: number; message?: string}
  if (statusCode !== 404) return undefined
  if (/no such image/i.test(message ?? '')) return 'image'
  if (/network .* not found/i.test(message ?? '')) return 'network'
  return undefined
}

const STATUSES = new Set<ContainerStatus>(['created', 'running', 'restarting', 'exited', 'paused', 'dead', 'removing'])

export function stateOf(info: Docker.ContainerInspectInfo): ContainerState {
  const status = info.State.Status as ContainerStatus
  return {
    instanceId: info.Config.Labels?.[LABEL_INSTANCE] ?? '',
    containerId: info.Id,
    name: info.Name.replace(/^\//, ''),
    image: info.Config.Image,
    status: STATUSES.has(status) ? status : 'dead',
    health: ((info.State.Health?.Status as Health | undefined) ?? 'none') as Health,
    restartCount: info.RestartCount,
    startedAt: info.State.StartedAt,
    specHash: info.Config.Labels?.[LABEL_SPEC],
  }
}

export async function inspectContainer(
  engine: Engine,
  nameOrId: string,
): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await engine.getContainer(nameOrId).inspect()
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode === 404) return undefined
    throw error
  }
}

/**
 * Removes a container; with `graceSeconds` it is stopped first, so the service shuts down cleanly (no crash recovery next start).
 * `anonymousVolumes` removes the volumes the engine made for it alone (an image's VOLUME no spec names), never a named one.
 */
export async function removeContainer(
  engine: Engine,
  id: string,
  graceSeconds?: number,
  anonymousVolumes = false,
): Promise<void> {
  try {
    if (graceSeconds !== undefined) {
      await engine
        .getContainer(id)
        .stop({t: graceSeconds})
        .catch((error: {statusCode?: number}) => {
          if (error.statusCode !== 304 && error.statusCode !== 404) throw error
        })
    }
    await engine.getContainer(id).remove({force: true, v: anonymousVolumes})
  } catch (error) {
    const code = (error as {statusCode?: number}).statusCode
    if (code !== 404 && code !== 409) throw error
  }
}

/**
 * How long an exec (a lifecycle hook, a readiness probe) may run: under the broker's 30 s deadline for an agent's
 * exec, so a hook a tenant made hang (a lock, a blocked server) fails the call with a reason instead of holding it.
 */
export const EXEC_DEADLINE_MS = 25_000

/** Runs a command in a container and collects its combined output; fails once it runs longer than `deadlineMs`. */
export async function execIn(
  engine: Engine,
  containerId: string,
  command: string[],
  env: Record<string, string> = {},
  deadlineMs = EXEC_DEADLINE_MS,
  /** A document for the command's stdin, closed after it. */
  stdin?: string,
): Promise<ExecResult> {
  const exec = await engine.getContainer(containerId).exec({
    Cmd: command,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    AttachStdin: stdin !== undefined,
    AttachStdout: true,
    AttachStderr: true,
  })
  const stream = await exec.start({hijack: true, stdin: stdin !== undefined})
  const chunks: Buffer[] = []
  const streams = {stdout: [] as Buffer[], stderr: [] as Buffer[]}
  const sinkOf = (name: keyof typeof streams) => {
    const sink = new PassThrough()
    sink.on('data', (chunk: Buffer) => (chunks.push(chunk), streams[name].push(chunk)))
    return sink
  }
  engine.modem.demuxStream(stream, sinkOf('stdout'), sinkOf('stderr'))
  // The document, then end of input: the executable reads stdin to its end.
  if (stdin !== undefined) stream.end(stdin)
  let timer: NodeJS.Timeout | undefined
  const ended = await Promise.race([
    new Promise<boolean>((resolve, reject) => {
      stream.on('end', () => resolve(true))
      stream.on('close', () => resolve(true))
      stream.on('error', reject)
    }),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs))),
  ]).finally(() => clearTimeout(timer))
  if (!ended) {
    // The engine has no call to stop an exec: the command may run on in the container, unattended.
    stream.destroy()
    throw new EngineError(`${command[0]} did not finish within ${Math.round(deadlineMs / 1000)} s`)
  }
  const {ExitCode} = await exec.inspect()
  return {
    exitCode: ExitCode ?? -1,
    output: Buffer.concat(chunks).toString('utf8'),
    stdout: Buffer.concat(streams.stdout).toString('utf8'),
    stderr: Buffer.concat(streams.stderr).toString('utf8'),
  }
}

interface StatsSample {
  cpu_stats?: {cpu_usage?: {total_usage?: number}; system_cpu_usage?: number; online_cpus?: number}
  precpu_stats?: {cpu_usage?: {total_usage?: number}; system_cpu_usage?: number}
  memory_stats?: {usage?: number; limit?: number; stats?: Record<string, number>}
}

/** One CPU/memory sample of a container, the way `docker stats` computes it (page cache not counted). */
export async function containerStats(engine: Engine, id: string): Promise<ContainerStats> {
  const s = (await engine.getContainer(id).stats({stream: false})) as unknown as StatsSample
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0)
  const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0)
  const cpus = s.cpu_stats?.online_cpus ?? 1
  const cache = s.memory_stats?.stats?.inactive_file ?? s.memory_stats?.stats?.cache ?? 0
  return {
    cpuPercent: cpuDelta > 0 && systemDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0,
    memoryBytes: Math.max(0, (s.memory_stats?.usage ?? 0) - cache),
    memoryLimitBytes: s.memory_stats?.limit ?? 0,
  }
}
