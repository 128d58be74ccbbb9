import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {untilStopped} from '../../cli/signals.js'
import {UsageError} from '../../core/errors.js'
import {createLogger, type LogLevel} from '../../core/log.js'
import {loadBrokerConfig, startBrokerProcess} from '../../system/broker.js'

export default class BrokerStart extends BaseCommand {
  static override summary =
    'Run a broker for remote hosts: OSB and admin APIs, agent registration, on SQLite or a shared PostgreSQL'
  static override description = `Serves the Open Service Broker API and the admin API, and the routes agents register and heartbeat on. Instances go to live, undrained hosts with room (--placement spread, binpack or random, and the plan's zone and label rules); a host that misses three heartbeats is marked dead.

With a postgres:// store, run as many brokers as you like on one database: any of them serves any request, one finishes what another started if that one dies, and each one's event stream sees every change.

The admin API needs its own credentials, distinct from the OSB ones. Each host gets its own token from \`dbroker hosts add HOST\`; a host that asks to change its agent URL or address waits for \`dbroker hosts approve HOST\`. Plain http off 127.0.0.1 (here, or an agent's URL) is refused unless --insecure.

Every setting can come from --config (YAML, snake_case keys as the flags) and be overridden by a flag.`

  static override examples = [
    '<%= config.bin %> broker start --config /etc/dbroker/broker.yml',
    'DBROKER_PASSWORD=... DBROKER_ADMIN_PASSWORD=... <%= config.bin %> broker start --listen 0.0.0.0:9998 --tls-cert c.pem --tls-key k.pem --admin-username ops --store postgres://dbroker@db/dbroker',
  ]

  static override flags = {
    config: Flags.string({char: 'c', description: 'YAML file with the settings below (flags win)'}),
    id: Flags.string({description: "this broker's name in a shared store [default: host name and a random suffix]"}),
    listen: Flags.string({description: 'HOST:PORT to serve on [default: 127.0.0.1:9998]'}),
    url: Flags.string({description: 'URL agents and clients reach this broker at [default: from --listen]'}),
    'tls-cert': Flags.string({description: 'certificate to serve HTTPS with'}),
    'tls-key': Flags.string({description: 'key to serve HTTPS with'}),
    username: Flags.string({env: 'DBROKER_USERNAME', description: 'OSB basic-auth user'}),
    password: Flags.string({
      env: 'DBROKER_PASSWORD',
      description: 'OSB basic-auth password: DBROKER_PASSWORD or --config (as an argument it is refused)',
    }),
    'admin-username': Flags.string({env: 'DBROKER_ADMIN_USERNAME', description: 'admin API user (required)'}),
    'admin-password': Flags.string({
      env: 'DBROKER_ADMIN_PASSWORD',
      description:
        'admin API password (required, not the OSB one): DBROKER_ADMIN_PASSWORD or --config (as an argument it is refused)',
    }),
    insecure: Flags.boolean({description: "allow plain http off loopback: this broker's own API, and agents' URLs"}),
    'agent-ca': Flags.string({description: "CA of the agents' TLS certificates"}),
    store: Flags.string({env: 'DBROKER_STORE', description: 'sqlite:PATH or postgres://USER:PASS@HOST/DB'}),
    'store-key-file': Flags.string({
      env: 'DBROKER_STORE_KEY_FILE',
      description:
        "file with the key of the store's secrets (64 hex digits; newest first when several) [default: DBROKER_STORE_KEY, or store.key beside a SQLite store]",
    }),
    catalog: Flags.string({description: 'catalog YAML [default: the catalog that ships with dbroker]'}),
    placement: Flags.string({
      options: ['spread', 'binpack', 'random'],
      description: 'how to pick a host [default: spread]',
    }),
    keepalive: Flags.string({
      description: "agents' expected heartbeat interval, and the sweep and lease period [default: 5s]",
    }),
  }

  async run(): Promise<{id: string; url: string}> {
    const {flags} = await this.parse(BrokerStart)
    this.refuseSecretArguments(
      {password: 'DBROKER_PASSWORD', 'admin-password': 'DBROKER_ADMIN_PASSWORD'},
      ', or put it in the --config file',
    )
    const store = this.argv.find((a, i) => a.startsWith('--store=') || this.argv[i - 1] === '--store')
    if (store && /^(?:--store=)?[a-z]+:\/\/[^/@]*:[^/@]*@/.test(store))
      throw new UsageError(
        '--store with a password in its URL would put it in the process list, where every user of this machine reads it',
        'set DBROKER_STORE, put `store:` in the --config file, or leave the password out of the URL (PGPASSWORD, ~/.pgpass)',
      )
    const log = createLogger(flags['log-level'] as LogLevel)
    const pair = (username?: string, password?: string) =>
      username !== undefined || password !== undefined ? {username, password} : undefined
    const config = loadBrokerConfig(flags.config, {
      id: flags.id,
      listen: flags.listen,
      url: flags.url,
      tls: flags['tls-cert'] || flags['tls-key'] ? {cert: flags['tls-cert'], key: flags['tls-key']} : undefined,
      osb: pair(flags.username, flags.password),
      admin: pair(flags['admin-username'], flags['admin-password']),
      insecure: flags.insecure || undefined,
      agent_ca: flags['agent-ca'],
      store: flags.store,
      store_key_file: flags['store-key-file'],
      catalog: flags.catalog,
      placement: flags.placement,
      keepalive: flags.keepalive,
    })
    if (process.env.DBROKER_AGENT_TOKEN)
      log.warn(
        'DBROKER_AGENT_TOKEN is not used by the broker any more: each host has its own token, from `dbroker hosts add HOST`',
      )
    const broker = await startBrokerProcess(config, log)
    const result = {id: config.id, url: broker.url}
    if (this.jsonEnabled()) process.stdout.write(JSON.stringify(result) + '\n')
    else this.log(`broker ${config.id} serves ${broker.url} (store: ${broker.store.dialect})`)
    await untilStopped(log, 'broker (running operations may finish, up to 30 s)')
    await broker.close()
    this.exit(0)
  }
}
