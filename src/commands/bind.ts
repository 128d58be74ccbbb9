import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {bindService, type BindResult, parseTtl} from '../cli/services/bind.js'
import {
  CREDENTIALS_FORMATS,
  type CredentialsFormat,
  formatCredentials,
  keyPrefixNote,
} from '../cli/services/credentials.js'

export default class Bind extends BrokerCommand {
  static override summary = 'Bind to an instance and print its credentials; given a service name, provision it first'
  static override description = `Given a service name (redis), binds to the instance named --name (default: the service name), provisioning it first when it doesn't exist, so the next call reuses it. Given an instance name or id, binds to that instance. An instance still being provisioned is waited for (progress on stderr); with --plan, an existing instance must be on that plan.

Each call creates a new binding with its own user and password, unless --reuse: then your own earlier binding of that instance (made by this OS user on this machine, still bound, not about to expire) is printed again, so a shell that runs this on every start doesn't pile bindings up. With --ttl the broker unbinds the new binding (and revokes its user) once the time is up, whether or not the CLI runs again. --reuse --ttl X hands out only an earlier binding with at least half of X left (never one that doesn't expire); otherwise it makes a new one with ttl X and says why on stderr, and the earlier one keeps its own ttl. On failure nothing is printed on stdout and the exit code is not 0, so this is safe in CI:

  eval "$(dbroker bind redis --format env)"   # exports REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD`
  static override examples = [
    'eval "$(<%= config.bin %> bind redis --format env)" && redis-cli -u "$REDIS_URL" ping',
    '<%= config.bin %> bind postgresql --name orders-db --format dotenv --prefix DB >> .env',
    '<%= config.bin %> bind orders-db --format uri',
    '<%= config.bin %> bind redis --json',
    'eval "$(<%= config.bin %> bind redis --reuse --ttl 8h --format env)"   # in ~/.bashrc',
  ]
  static override args = {target: Args.string({required: true, description: 'service name, or instance name or id'})}
  static override flags = {
    plan: Flags.string({
      description: 'plan for a new instance; an existing one must be on it [default: the first plan]',
    }),
    name: Flags.string({
      char: 'n',
      description: 'with a service: name of the instance to reuse or create [default: the service name]',
    }),
    format: Flags.string({
      options: [...CREDENTIALS_FORMATS],
      default: 'json',
      description: 'how to print the credentials',
    }),
    prefix: Flags.string({description: 'variable prefix for env and dotenv [default: the service name]'}),
    ttl: Flags.string({description: 'the broker unbinds the new binding after this long: 30s, 10m, 1h, 2d'}),
    reuse: Flags.boolean({description: 'print your existing unexpired binding of the instance instead of making one'}),
  }

  async run(): Promise<BindResult> {
    const {args, flags} = await this.parse(Bind)
    const ttlSeconds = flags.ttl === undefined ? undefined : parseTtl(flags.ttl)
    const client = await this.client(flags.context)
    const result = await bindService(client, args.target, {
      plan: flags.plan,
      name: flags.name,
      ttlSeconds,
      reuse: flags.reuse,
      progress: this.note,
    })
    const expires = result.binding.expiresAt ? `, expires ${new Date(result.binding.expiresAt).toISOString()}` : ''
    this.note(
      `${result.binding.reused ? 'reused' : 'bound'} ${result.instance.name ?? result.instance.id} (binding ${result.binding.id}${expires})`,
    )
    const keys = keyPrefixNote(result.credentials)
    if (keys) this.note(keys)
    if (!this.jsonEnabled())
      process.stdout.write(
        formatCredentials(
          result.credentials,
          flags.format as CredentialsFormat,
          flags.prefix ?? result.instance.service,
        ),
      )
    return result
  }
}
