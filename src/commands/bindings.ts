import {Args} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {type BindingRow, bindingsTable} from '../cli/instance-view.js'
import {instanceByRef} from '../cli/services/instances.js'

export default class Bindings extends BrokerCommand {
  static override summary = "List bindings: one instance's, or every instance's"
  static override examples = ['<%= config.bin %> bindings', '<%= config.bin %> bindings redis --json']
  static override args = {instance: Args.string({description: 'instance name or id [default: all instances]'})}

  async run(): Promise<BindingRow[]> {
    const {args, flags} = await this.parse(Bindings)
    const client = await this.client(flags.context)
    const instances = args.instance
      ? [await instanceByRef(client, args.instance)]
      : await Promise.all((await client.instances({stats: false})).map((i) => client.instance(i.id)))
    const rows = instances.flatMap((i) => i.bindings.map((b) => ({instance: i.name ?? i.id, ...b})))
    if (!this.jsonEnabled()) process.stdout.write(rows.length ? bindingsTable(rows) : 'no bindings\n')
    return rows
  }
}
