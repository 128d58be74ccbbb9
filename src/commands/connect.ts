import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {parseTtl} from '../cli/services/bind.js'
import type {ConnectResult} from '../cli/services/connect.js'
import {instanceByRef} from '../cli/services/instances.js'

export default class Connect extends BrokerCommand {
  static override summary = "Open the service's own client (redis-cli, psql, mariadb) with a binding for this session"
  static override description = `Binds to the instance, starts the client its plan names (the catalog's \`client:\`) on this terminal with the password in its environment (REDISCLI_AUTH, PGPASSWORD, MYSQL_PWD; never in its arguments), and unbinds when the client exits — also on Ctrl-C, SIGTERM, and when the terminal closes (SIGHUP). Should this process be killed outright, the broker unbinds after --ttl anyway. Exits with the client's exit code.

--print prints a shell line that does the same by hand (binding with --reuse for an hour), with the password as $CONNECT_PASSWORD, and makes no binding.`
  static override examples = [
    '<%= config.bin %> connect redis',
    '<%= config.bin %> connect orders-db',
    "echo 'INFO server' | <%= config.bin %> connect redis",
    '<%= config.bin %> connect orders-db --print',
  ]
  static override args = {instance: Args.string({required: true, description: 'instance name, id or id prefix'})}
  static override flags = {
    print: Flags.boolean({description: 'print the command instead of running it (no secret in it)'}),
    ttl: Flags.string({
      default: '12h',
      description: "the session binding's expiry, should this process be killed before it unbinds",
    }),
  }

  async run(): Promise<ConnectResult | {command: string}> {
    const {args, flags} = await this.parse(Connect)
    const ttlSeconds = parseTtl(flags.ttl)
    const client = await this.client(flags.context)
    const {connectInstance, printedCommand} = await import('../cli/services/connect.js')
    const instance = await instanceByRef(client, args.instance)
    if (flags.print) {
      const command = printedCommand(instance, {bin: this.config.bin, context: flags.context})
      if (!this.jsonEnabled()) process.stdout.write(`${command}\n`)
      return {command}
    }
    const result = await connectInstance(client, instance, {ttlSeconds, progress: this.note})
    if (!result.hungUp) this.note(`${result.client} exited (${result.exitCode}); binding ${result.binding} removed`)
    if (result.exitCode !== 0 && !this.jsonEnabled()) this.exit(result.exitCode)
    return result
  }
}
