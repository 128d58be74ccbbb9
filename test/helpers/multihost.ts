import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import Docker from 'dockerode'

import {OsbClient} from './osb.js'
import {startPostgres, type TestPostgres} from './postgres.js'

/**
 * A whole multi-host deployment on one machine, made of real processes: each
 * host a network namespace with its own dockerd and `dbroker agent start`,
 * PostgreSQL from Debian on a temp dir, and brokers from `dbroker broker
 * start` on it. Subnets 10.91.N.0/24 (veths) and 10.92.N.0/24 (bridges), ports
 * 44100-44499: apart from the other tests' 41000-42999 on the main engine.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const RUN = path.join(ROOT, 'bin', 'run.js')
const IMAGE = 'dbroker/redis:7'

export const PORTS = {broker: 44100, agent: 44200, hostRange: [44300, 44349] as [number, number], postgres: 44432}
export const OSB = {username: 'broker', password: 'multihost-osb-pass'}
export const ADMIN = {username: 'ops', password: 'multihost-admin-pass'}

const run = (file: string, args: string[], options: {input?: string} = {}) =>
  execFileSync(file, args, {encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...options})
const attempt = (file: string, args: string[]) => {
  try {
    run(file, args)
  } catch {
    // best effort: teardown goes on
  }
}

export interface TlsFiles {
  ca: string
  cert: string
  key: string
}

/** A test CA and one server certificate for every address given. */
export function makeTls(dir: string, addresses: string[]): TlsFiles {
  mkdirSync(dir, {recursive: true})
  const f = (name: string) => path.join(dir, name)
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=dbroker test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ])
  run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=dbroker',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  ])
  writeFileSync(
    f('ext.cnf'),
    `subjectAltName=${addresses.map((a) => (/^[\d.]+$/.test(a) ? `IP:${a}` : `DNS:${a}`)).join(',')}\n`,
  )
  run('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
    '-out',
    f('server.pem'),
  ])
  return {ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key')}
}

/** A child process that prints one JSON line on stdout when ready; its stderr goes to a log file. */
export class Daemon {
  readonly ready: Promise<Record<string, string>>
  readonly exited: Promise<number | null>

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    this.ready = new Promise((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        // Only whole lines: a chunk can end in the middle of the JSON one.
        const line = out
          .split('\n')
          .slice(0, -1)
          .find((l) => l.startsWith('{'))
        if (line) resolve(JSON.parse(line) as Record<string, string>)
      })
      void this.exited.then((code) =>
        reject(new Error(`${name} exited with ${code} before it was ready:\n${this.logTail()}`)),
      )
    })
  }

  logTail(lines = 30): string {
    return existsSync(this.logFile)
      ? readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n')
      : ''
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }
}

/** Secrets go in `env` (or files), never in argv, where every user of the machine can read them. */
export function spawnDaemon(name: string, command: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Daemon {
  const err = openSync(logFile, 'a')
  const child = spawn(command[0], command.slice(1), {
    stdio: ['ignore', 'pipe', err],
    env: {...process.env, NO_COLOR: '1', ...env},
  })
  return new Daemon(name, child, logFile)
}

export interface TestHost {
  id: string
  index: number
  netns: string
  /** The host's address as seen from the test (and in credentials). */
  address: string
  /** The root namespace's address on the host's link: where the host reaches brokers. */
  gateway: string
  dir: string
  socket: string
  docker: Docker
  /** The file (0600) holding the host's own token, from `dbroker hosts add`. */
  tokenFile: string
  agent?: Daemon
}

/** A CLI command left running (`logs -f`): what it printed so far, and how it ended. */
export interface RunningCli {
  output: {stdout: string; stderr: string}
  exited: Promise<{code: number | null}>
  stop(): void
}

export interface MultiHost {
  dir: string
  hosts: TestHost[]
  brokers: Array<Daemon & {url?: string}>
  postgresUrl: string
  tls?: TlsFiles
  osb(broker?: number): OsbClient
  /** The admin API of one broker, with the admin credentials. */
  admin(broker?: number): OsbClient
  /** The dbroker CLI as the operator runs it, pointed at one broker by environment (and trusting the test CA). */
  cli(args: string[], broker?: number): string
  /** The same, left running in the background. */
  cliRunning(args: string[], broker?: number): RunningCli
  /** The host's own token. */
  tokenOf(host: TestHost): string
  /** Starts the host's agent; `port` moves its API (and so its URL) elsewhere. */
  startAgent(host: TestHost, options?: {port?: number}): Promise<void>
  stopAgent(host: TestHost, signal?: NodeJS.Signals): Promise<void>
  startBroker(index: number): Promise<string>
  /** Stops the host's dockerd, deletes its data root, starts it again and loads the image. */
  wipeHost(host: TestHost): Promise<void>
  adminHosts(broker?: number): Promise<
    Array<{
      id: string
      status: string
      drained: boolean
      instances: number
      agentUrl: string | null
      serviceAddress: string
    }>
  >
  logs(): string
  teardown(): Promise<void>
}

export interface MultiHostOptions {
  hosts: number
  brokers: number
  tls?: boolean
  keepalive?: string
  /** PostgreSQL (default) for several brokers, or SQLite for one. */
  store?: 'postgres' | 'sqlite'
}

/** Builds the deployment; on any failure what was made so far is torn down before the error surfaces. */
export async function startMultiHost(options: MultiHostOptions): Promise<MultiHost> {
  const tag = randomBytes(2).toString('hex')
  const dir = mkdtempSync('/tmp/dbmh-')
  // Every broker on the shared store gets the same key for its secrets.
  const storeKeyFile = path.join(dir, 'store.key')
  writeFileSync(storeKeyFile, `${randomBytes(32).toString('hex')}\n`, {mode: 0o600})
  chmodSync(dir, 0o755)
  const hosts: TestHost[] = []
  const brokers: MultiHost['brokers'] = []
  const keepalive = options.keepalive ?? '1s'
  const imageTar = path.join(dir, 'image.tar')
  const postgresUrl = `postgres://dbroker@127.0.0.1:${PORTS.postgres}/dbroker`
  let tls: TlsFiles | undefined

  let postgres: TestPostgres | undefined

  const dockerdPid = (host: TestHost) => {
    const file = path.join(host.dir, 'docker.pid')
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined
  }

  const startDockerd = async (host: TestHost) => {
    for (const sub of ['data', 'exec']) mkdirSync(path.join(host.dir, sub), {recursive: true})
    const log = openSync(path.join(host.dir, 'dockerd.log'), 'a')
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${host.netns}`,
        'dockerd',
        '-H',
        `unix://${host.socket}`,
        '--data-root',
        path.join(host.dir, 'data'),
        '--exec-root',
        path.join(host.dir, 'exec'),
        '--pidfile',
        path.join(host.dir, 'docker.pid'),
        '--bip',
        `10.92.${host.index}.1/24`,
      ],
      {stdio: ['ignore', log, log], detached: true},
    )
    child.unref()
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        await host.docker.ping()
        return
      } catch {
        if (Date.now() > deadline)
          throw new Error(
            `dockerd of ${host.id} did not start:\n${readFileSync(path.join(host.dir, 'dockerd.log'), 'utf8').slice(-2000)}`,
          )
        await sleep(200)
      }
    }
  }

  const stopDockerd = async (host: TestHost) => {
    const pid = dockerdPid(host)
    if (!pid) return
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      return
    }
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0)
        await sleep(200)
      } catch {
        return
      }
    }
    attempt('kill', ['-9', String(pid)])
  }

  const loadImage = (host: TestHost) =>
    run('sh', ['-c', `docker -H unix://${host.socket} load -i ${imageTar} >/dev/null`])

  const brokerUrlsFor = (host: TestHost) =>
    brokers.map((_, i) => `${tls ? 'https' : 'http'}://${host.gateway}:${PORTS.broker + i}`)

  const cliEnv = (broker: number) => ({
    ...process.env,
    DBROKER_URL: brokers[broker].url,
    DBROKER_ADMIN_USERNAME: ADMIN.username,
    DBROKER_ADMIN_PASSWORD: ADMIN.password,
    XDG_CONFIG_HOME: dir,
    HOME: dir,
    ...(tls ? {NODE_EXTRA_CA_CERTS: tls.ca} : {}),
  })
  const cli = (args: string[], broker = 0) =>
    execFileSync(process.execPath, [RUN, ...args], {encoding: 'utf8', stdio: 'pipe', env: cliEnv(broker)})
  const cliRunning = (args: string[], broker = 0): RunningCli => {
    const child = spawn(process.execPath, [RUN, ...args], {stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv(broker)})
    const output = {stdout: '', stderr: ''}
    child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()))
    const exited = new Promise<{code: number | null}>((resolve) => child.once('exit', (code) => resolve({code})))
    return {output, exited, stop: () => void (child.exitCode === null && child.kill('SIGKILL'))}
  }

  // The operator's way: `dbroker hosts add` writes the host's token to a file only root reads.
  const enroll = (host: TestHost) => cli(['hosts', 'add', host.id, '--token-file', host.tokenFile, '--json'])

  const startAgent = async (host: TestHost, agentOptions: {port?: number} = {}) => {
    const args = [
      `--net=/run/netns/${host.netns}`,
      process.execPath,
      RUN,
      'agent',
      'start',
      '--json',
      '--log-level',
      'debug',
      '--id',
      host.id,
      '--docker-host',
      `unix://${host.socket}`,
      '--service-address',
      host.address,
      '--port-range',
      PORTS.hostRange.join('-'),
      '--token-file',
      host.tokenFile,
      '--keepalive',
      keepalive,
      '--listen',
      `${host.address}:${agentOptions.port ?? PORTS.agent}`,
      '--zone',
      `zone-${host.index}`,
      ...brokerUrlsFor(host).flatMap((url) => ['--broker', url]),
      ...(tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key, '--broker-ca', tls.ca] : ['--insecure']),
    ]
    host.agent = spawnDaemon(`agent ${host.id}`, ['nsenter', ...args], path.join(host.dir, 'agent.log'))
    await host.agent.ready
  }

  const startBroker = async (index: number) => {
    const args = [
      process.execPath,
      RUN,
      'broker',
      'start',
      '--json',
      '--log-level',
      'debug',
      '--id',
      `broker-${index}`,
      '--listen',
      `0.0.0.0:${PORTS.broker + index}`,
      '--url',
      `${tls ? 'https' : 'http'}://127.0.0.1:${PORTS.broker + index}`,
      '--username',
      OSB.username,
      '--admin-username',
      ADMIN.username,
      '--store',
      options.store === 'sqlite' ? `sqlite:${path.join(dir, 'broker.db')}` : postgresUrl,
      '--store-key-file',
      storeKeyFile,
      '--keepalive',
      keepalive,
      ...(tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key, '--agent-ca', tls.ca] : ['--insecure']),
    ]
    const secrets = {DBROKER_PASSWORD: OSB.password, DBROKER_ADMIN_PASSWORD: ADMIN.password}
    const broker = spawnDaemon(`broker ${index}`, args, path.join(dir, `broker-${index}.log`), secrets) as Daemon & {
      url?: string
    }
    brokers[index] = broker
    broker.url = (await broker.ready).url
    return broker.url
  }

  const teardown = async () => {
    await Promise.all([...brokers, ...hosts.map((h) => h.agent)].map((d) => d?.kill('SIGKILL')))
    await Promise.all(hosts.map((h) => stopDockerd(h)))
    for (const host of hosts) {
      attempt('sh', ['-c', `grep -o ' ${host.dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`])
      attempt('ip', ['netns', 'del', host.netns])
      attempt('ip', ['link', 'del', `vdbmh${host.index}${tag}`])
    }
    postgres?.stop()
    rmSync(dir, {recursive: true, force: true})
  }

  try {
    if (options.tls)
      tls = makeTls(path.join(dir, 'tls'), [
        '127.0.0.1',
        'localhost',
        ...Array.from({length: options.hosts}, (_, i) => [`10.91.${i + 1}.1`, `10.91.${i + 1}.2`]).flat(),
      ])
    if (tls) for (const file of Object.values(tls)) chmodSync(file, 0o644)

    if (options.store !== 'sqlite') {
      postgres = startPostgres(path.join(dir, 'pg'), PORTS.postgres)
      postgres.createDatabase('dbroker')
    }

    run('sh', ['-c', `docker save ${IMAGE} -o ${imageTar}`])
    for (let index = 1; index <= options.hosts; index++) {
      const hostDir = path.join(dir, `h${index}`)
      mkdirSync(hostDir)
      const host: TestHost = {
        id: `host-${index}`,
        index,
        netns: `dbmh${index}${tag}`,
        address: `10.91.${index}.2`,
        gateway: `10.91.${index}.1`,
        dir: hostDir,
        socket: path.join(hostDir, 'docker.sock'),
        docker: new Docker({socketPath: path.join(hostDir, 'docker.sock')}),
        tokenFile: path.join(hostDir, 'agent.token'),
      }
      hosts.push(host)
      const outer = `vdbmh${index}${tag}`
      const inner = `edbmh${index}${tag}`
      run('ip', ['netns', 'add', host.netns])
      run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner])
      run('ip', ['link', 'set', inner, 'netns', host.netns])
      run('ip', ['addr', 'add', `${host.gateway}/24`, 'dev', outer])
      run('ip', ['link', 'set', outer, 'up'])
      const inNs = (...args: string[]) => run('nsenter', [`--net=/run/netns/${host.netns}`, 'ip', ...args])
      inNs('addr', 'add', `${host.address}/24`, 'dev', inner)
      inNs('link', 'set', inner, 'up')
      inNs('link', 'set', 'lo', 'up')
      inNs('route', 'add', 'default', 'via', host.gateway)
    }
    await Promise.all(
      hosts.map(async (host) => {
        await startDockerd(host)
        loadImage(host)
      }),
    )
    for (let i = 0; i < options.brokers; i++) await startBroker(i)
    for (const host of hosts) enroll(host)
    await Promise.all(hosts.map((h) => startAgent(h)))
  } catch (error) {
    const logs = [...brokers, ...hosts.map((h) => h.agent)]
      .map((d) => (d ? `--- ${d.name}\n${d.logTail()}` : ''))
      .join('\n')
    await teardown()
    throw new Error(`${(error as Error).message}\n${logs}`, {cause: error})
  }

  return {
    dir,
    hosts,
    brokers,
    postgresUrl,
    tls,
    cliRunning,
    osb: (broker = 0) => new OsbClient(brokers[broker].url!, OSB),
    admin: (broker = 0) => new OsbClient(brokers[broker].url!, ADMIN),
    cli,
    tokenOf: (host) => readFileSync(host.tokenFile, 'utf8').trim(),
    startAgent,
    async stopAgent(host, signal = 'SIGTERM') {
      await host.agent?.kill(signal)
    },
    startBroker,
    async wipeHost(host) {
      await stopDockerd(host)
      attempt('sh', ['-c', `grep -o ' ${host.dir}/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`])
      rmSync(path.join(host.dir, 'data'), {recursive: true, force: true})
      rmSync(path.join(host.dir, 'exec'), {recursive: true, force: true})
      await startDockerd(host)
      loadImage(host)
    },
    async adminHosts(broker = 0) {
      return (
        await new OsbClient(brokers[broker].url!, ADMIN).request<Awaited<ReturnType<MultiHost['adminHosts']>>>(
          'GET',
          '/admin/v1/hosts',
        )
      ).body
    },
    logs: () =>
      [...brokers, ...hosts.map((h) => h.agent)].map((d) => (d ? `--- ${d.name}\n${d.logTail(40)}` : '')).join('\n'),
    teardown,
  }
}
