import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, openSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import Docker from 'dockerode'

import type {BasicCredentials} from '../../src/core/http-auth.js'
import {type Daemon, spawnDaemon} from './multihost.js'
import {until} from './until.js'

export interface PrivateEngine {
  socket: string
  engine: Docker
  /** dockerd's arguments, as the engine is started each time. */
  args: string[]
  /** The pid its pidfile names, when that process is a live dockerd. */
  pid(): number | undefined
  start(): Promise<void>
  /** SIGTERM, and wait until it is gone. */
  stop(): Promise<void>
  /** After a test, also a failed one: its containers, the daemon, the mounts under dir and the bridge go. */
  destroy(): Promise<void>
}

/**
 * A dockerd of a test's own under dir: own data root, exec root, pidfile and socket, and its OWN bridge
 * (`--bridge none` makes dockerd delete the host's docker0, which the shared engine uses); no iptables, so
 * ports are published by docker-proxy on 127.0.0.1 and nothing of it goes into the host's rules.
 */
export function privateEngine(
  dir: string,
  options: {bridge: string; subnet: string; extraArgs?: string[]},
): PrivateEngine {
  const socket = path.join(dir, 'docker.sock')
  const engine = new Docker({socketPath: socket})
  const pidfile = path.join(dir, 'docker.pid')
  const args = [
    '-H',
    `unix://${socket}`,
    '--data-root',
    path.join(dir, 'data-root'),
    '--exec-root',
    path.join(dir, 'exec'),
    '--pidfile',
    pidfile,
    '--bridge',
    options.bridge,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    ...(options.extraArgs ?? []),
  ]
  execFileSync('ip', ['link', 'add', 'name', options.bridge, 'type', 'bridge'])
  execFileSync('ip', ['addr', 'add', options.subnet, 'dev', options.bridge])
  execFileSync('ip', ['link', 'set', options.bridge, 'up'])
  const pid = () => {
    const value = existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').trim()) : 0
    try {
      return value && readFileSync(`/proc/${value}/cmdline`, 'utf8').startsWith('dockerd') ? value : undefined
    } catch {
      return undefined
    }
  }
  const start = async () => {
    for (const sub of ['data-root', 'exec']) mkdirSync(path.join(dir, sub), {recursive: true})
    const log = openSync(path.join(dir, 'dockerd.log'), 'a')
    const child = spawn('dockerd', args, {stdio: ['ignore', log, log], detached: true})
    child.unref()
    await until('the private dockerd to answer', () => engine.ping().then(() => true), {
      timeoutMs: 60_000,
      everyMs: 200,
    })
  }
  const stop = async () => {
    const running = pid()
    if (!running) return
    process.kill(running, 'SIGTERM')
    await until(`dockerd ${running} to stop`, () => pid() !== running, 30_000)
  }
  return {
    socket,
    engine,
    args,
    pid,
    start,
    stop,
    async destroy() {
      // A dockerd that runs, so its containers go the normal way.
      if (!pid()) await start().catch(() => undefined)
      for (const container of await engine.listContainers({all: true}).catch(() => []))
        await engine
          .getContainer(container.Id)
          .remove({force: true})
          .catch(() => undefined)
      await stop()
      execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l || true`])
      try {
        execFileSync('ip', ['link', 'del', options.bridge], {stdio: 'ignore'})
      } catch {
        // never made, or gone already
      }
    },
  }
}

const RUN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/** `dbroker broker start` on a SQLite store under dir (its key in dir/store.key), 1 s keepalive; secrets by env. */
export function spawnBroker(
  dir: string,
  options: {port: number; catalog: string; osb: BasicCredentials; admin: BasicCredentials},
): Daemon {
  return spawnDaemon(
    'broker',
    [
      process.execPath,
      RUN,
      'broker',
      'start',
      '--json',
      '--log-level',
      'debug',
      '--listen',
      `127.0.0.1:${options.port}`,
      '--username',
      options.osb.username,
      '--admin-username',
      options.admin.username,
      '--store',
      `sqlite:${path.join(dir, 'broker.db')}`,
      '--store-key-file',
      path.join(dir, 'store.key'),
      '--catalog',
      options.catalog,
      '--keepalive',
      '1s',
    ],
    path.join(dir, 'broker.log'),
    {DBROKER_PASSWORD: options.osb.password, DBROKER_ADMIN_PASSWORD: options.admin.password},
  )
}

/** `dbroker agent start` for one host on the private engine, its token in dir/agent.token, disks under dir/disks. */
export function spawnAgent(
  dir: string,
  engine: PrivateEngine,
  options: {id: string; port: number; brokerPort: number; range: string; extraArgs?: string[]},
): Daemon {
  return spawnDaemon(
    'agent',
    [
      process.execPath,
      RUN,
      'agent',
      'start',
      '--json',
      '--log-level',
      'debug',
      '--id',
      options.id,
      '--docker-host',
      `unix://${engine.socket}`,
      '--service-address',
      '127.0.0.1',
      '--port-range',
      options.range,
      '--token-file',
      path.join(dir, 'agent.token'),
      '--keepalive',
      '1s',
      '--listen',
      `127.0.0.1:${options.port}`,
      '--broker',
      `http://127.0.0.1:${options.brokerPort}`,
      '--disks-dir',
      path.join(dir, 'disks'),
      ...(options.extraArgs ?? []),
    ],
    path.join(dir, 'agent.log'),
  )
}
