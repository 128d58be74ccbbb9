import path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {LOCAL_CONTEXT} from '../cli/contexts.js'
import {clearUpState, DETACHED_ENV, upCommandLine, writeUpState} from '../cli/detach.js'
import {imageProgress} from '../cli/progress.js'
import {detachedUp} from '../cli/services/detached-up.js'
import {UsageError} from '../core/errors.js'
import {isLoopback} from '../core/transport-security.js'
import {createLogger, type LogLevel} from '../core/log.js'
import {startLocal} from '../system/local.js'
import {credentials as credentialsRule} from '../system/settings.js'

export default class Up extends BaseCommand {
  static override summary = 'Run the broker and an agent for the local Docker engine in one process'
  static override description = `Serves the Open Service Broker API (v2.13-2.17) and provisions each service instance as a container on the local Docker engine, with an embedded SQLite store in the data dir.

Checks the engine and the catalog, builds or pulls the catalog's images, then serves until Ctrl-C or SIGTERM. Containers keep running when it stops; the next \`dbroker up\` adopts them and brings back any that went missing.

Credentials for the OSB API and the admin API are generated once and kept in the data dir, unless DBROKER_USERNAME/DBROKER_PASSWORD and DBROKER_ADMIN_USERNAME/DBROKER_ADMIN_PASSWORD are set (--username and --admin-username also name the users; a password is never taken as an argument). It writes (or refreshes) the context named local (or --context), so \`dbroker bind\`, \`instances\` and \`top\` find it.

With --detach it starts in the background, waits until it is healthy, writes the context and exits 0; \`dbroker down\` stops it.`

  static override examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up --port 9998 --data-dir ./data',
    'DBROKER_PASSWORD=secret <%= config.bin %> up --json',
    '<%= config.bin %> up --catalog ./my-catalog.yml',
    '<%= config.bin %> up --detach && <%= config.bin %> bind redis --format env',
  ]

  static override flags = {
    context: Flags.string({description: `name of the context it writes for the CLI [default: ${LOCAL_CONTEXT}]`}),
    port: Flags.integer({
      char: 'p',
      default: 9998,
      min: 0,
      max: 65535,
      description: 'port of the broker API (0 picks a free one)',
    }),
    bind: Flags.string({default: '127.0.0.1', description: 'address the broker API listens on'}),
    insecure: Flags.boolean({
      description:
        'allow --bind off the loopback interface over plain http (passwords would cross the network unencrypted)',
    }),
    'data-dir': Flags.string({
      description: 'where the store and generated credentials live [default: the user data dir]',
    }),
    catalog: Flags.string({
      description: 'catalog YAML file [default: images/catalog.yml: redis, postgresql, mariadb, log-collector]',
    }),
    username: Flags.string({env: 'DBROKER_USERNAME', description: 'OSB basic-auth user'}),
    password: Flags.string({
      env: 'DBROKER_PASSWORD',
      description: 'OSB basic-auth password: set DBROKER_PASSWORD (as an argument it is refused)',
    }),
    'admin-username': Flags.string({env: 'DBROKER_ADMIN_USERNAME', description: 'admin API basic-auth user'}),
    'admin-password': Flags.string({
      env: 'DBROKER_ADMIN_PASSWORD',
      description: 'admin API basic-auth password: set DBROKER_ADMIN_PASSWORD (as an argument it is refused)',
    }),
    detach: Flags.boolean({char: 'd', description: 'run in the background; exit 0 once healthy'}),
    'detach-timeout': Flags.integer({
      default: 600,
      min: 1,
      description: 'seconds --detach waits for healthy (image builds count)',
    }),
    'service-address': Flags.string({
      default: '127.0.0.1',
      description: 'address containers publish their ports on and credentials name',
    }),
    'port-range': Flags.string({default: '40000-40999', description: 'host ports instances get, as MIN-MAX'}),
    'manage-engine': Flags.boolean({
      description:
        'start dockerd again when it stops, as it ran (read from --engine-pidfile), and apply registry settings to its daemon.json',
    }),
    'engine-pidfile': Flags.string({default: '/var/run/docker.pid', description: "dockerd's pidfile"}),
    keepalive: Flags.integer({
      default: 5,
      min: 1,
      description: 'seconds between heartbeats (each also converges the containers)',
    }),
  }

  async run(): Promise<
    | {url: string; username: string; password: string; adminUsername: string; adminPassword: string}
    | {url: string; pid: number; context: string}
  > {
    const {flags} = await this.parse(Up)
    this.refuseSecretArguments({password: 'DBROKER_PASSWORD', 'admin-password': 'DBROKER_ADMIN_PASSWORD'})
    const range = /^(\d+)-(\d+)$/.exec(flags['port-range'])
    if (!range || Number(range[1]) < 1 || Number(range[2]) > 65535 || Number(range[1]) > Number(range[2])) {
      throw new UsageError(`--port-range ${flags['port-range']} is not MIN-MAX within 1-65535`)
    }
    // The same rule as `broker start`: a short password is a usage error, before anything starts.
    for (const flag of ['password', 'admin-password'] as const) {
      const given = flags[flag]
      const checked = given === undefined ? undefined : credentialsRule.shape.password.safeParse(given)
      if (checked && !checked.success)
        throw new UsageError(
          `--${flag} (or DBROKER_${flag.toUpperCase().replace('-', '_')}): ${checked.error.issues[0].message}`,
        )
    }
    // up serves plain http: off loopback its OSB and admin passwords would cross the network in clear text.
    if (!isLoopback(flags.bind)) {
      if (!flags.insecure)
        throw new UsageError(
          `--bind ${flags.bind} is off the loopback interface and up serves plain http: passwords would cross the network unencrypted; pass --insecure to accept that, or run \`dbroker broker start\` with TLS`,
        )
      process.stderr.write(`INSECURE: the broker API listens on ${flags.bind} over plain http\n`)
    }
    const log = createLogger(flags['log-level'] as LogLevel)
    const progress = await imageProgress(this.jsonEnabled())
    const dataDir = path.resolve(flags['data-dir'] ?? this.config.dataDir)
    const contextName = flags.context ?? LOCAL_CONTEXT
    if (flags.detach)
      return this.detach(dataDir, contextName, flags['detach-timeout'], {
        DBROKER_PASSWORD: flags.password,
        DBROKER_ADMIN_PASSWORD: flags['admin-password'],
      })
    const system = await startLocal({
      dataDir,
      catalogFile: flags.catalog && path.resolve(flags.catalog),
      listen: {host: flags.bind, port: flags.port},
      credentials: {username: flags.username, password: flags.password},
      adminCredentials: {username: flags['admin-username'], password: flags['admin-password']},
      serviceAddress: flags['service-address'],
      portRange: [Number(range[1]), Number(range[2])],
      keepaliveMs: flags.keepalive * 1000,
      log,
      onImageProgress: progress.update,
      manageEngine: flags['manage-engine'] ? {pidfile: path.resolve(flags['engine-pidfile'])} : undefined,
    }).finally(progress.stop)

    // How to start this broker again, for the hint of a command that finds it stopped (no secrets: up takes none as arguments).
    const startCommand = upCommandLine({
      dataDir,
      url: system.url,
      catalog: flags.catalog && path.resolve(flags.catalog),
      portRange: flags['port-range'],
      context: contextName,
      bind: flags.bind,
    })
    // The context first: `up --detach` takes the state file as the sign that all is written.
    await this.contexts()
      .set(contextName, {
        url: system.url,
        username: system.credentials.username,
        password: system.credentials.password,
        adminUsername: system.adminCredentials.username,
        adminPassword: system.adminCredentials.password,
        dataDir,
        pid: process.pid,
        startCommand,
      })
      .catch((error) => log.warn(`cannot write the ${contextName} context: ${(error as Error).message}`))
    writeUpState(dataDir, {pid: process.pid, url: system.url, context: contextName, startedAt: Date.now()})
    const result = {
      url: system.url,
      username: system.credentials.username,
      password: system.credentials.password,
      adminUsername: system.adminCredentials.username,
      adminPassword: system.adminCredentials.password,
    }
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify(result) + '\n')
    } else {
      const services = system.catalog.definition.services
        .map((s) => `${s.name} (${s.plans.map((p) => p.name).join(', ')})`)
        .join(', ')
      // A detached up writes this to up.log: a log file never holds the passwords, credentials.json (0600) does.
      const logged = process.env[DETACHED_ENV] === '1' || !process.stdout.isTTY
      const secret = (value: string, file: string) => (logged ? `(in ${path.join(dataDir, file)})` : value)
      this.log(`dbroker is up at ${system.url}`)
      this.log(`  username  ${result.username}`)
      this.log(`  password  ${secret(result.password, 'credentials.json')}`)
      this.log(`  admin     ${result.adminUsername} / ${secret(result.adminPassword, 'admin-credentials.json')}`)
      this.log(`  context   ${contextName} (dbroker instances, bind, top use it)`)
      this.log(`  services  ${services}`)
      this.log(`  data      ${dataDir}`)
      this.log(
        process.env[DETACHED_ENV] === '1'
          ? 'Stop with `dbroker down`: containers keep running, and the next `dbroker up` adopts them.'
          : 'Stop with Ctrl-C: containers keep running, and the next `dbroker up` adopts them.',
      )
    }

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info(`${signal}: stopping; running operations may finish (up to 30 s)`)
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve()
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    await system.close()
    clearUpState(dataDir)
    // The --json line was written when ready; oclif must not print the result again.
    this.exit(0)
  }

  /** Starts this same `up` in the background and returns once it is healthy and the context is written. */
  private async detach(
    dataDir: string,
    contextName: string,
    timeoutSeconds: number,
    secrets: Record<string, string | undefined>,
  ): Promise<{
    url: string
    pid: number
    context: string
    username?: string
    password?: string
    adminUsername?: string
    adminPassword?: string
  }> {
    const requestedPort = this.argv.some((a) => /^(--port|-p)(=|$)/.test(a))
      ? (await this.parse(Up)).flags.port
      : undefined
    const state = await detachedUp({
      root: this.config.root,
      argv: this.argv,
      dataDir,
      timeoutMs: timeoutSeconds * 1000,
      secrets,
      progress: this.note,
      requestedPort,
    })
    this.log(
      `dbroker is up at ${state.url} (pid ${state.pid}); context ${state.context}. Stop it with \`dbroker down\`.`,
    )
    // As the foreground `up --json` prints them: the context the detached one wrote holds them.
    const context = this.contexts().read().contexts[state.context]
    return {
      url: state.url,
      pid: state.pid,
      context: state.context,
      username: context?.username,
      password: context?.password,
      adminUsername: context?.adminUsername,
      adminPassword: context?.adminPassword,
    }
  }
}
