import {Args} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {containerByRef} from '../cli/services/instances.js'

export default class Restart extends BrokerCommand {
  static override summary = "Restart an instance's container (its data and credentials stay)"
  static override examples = ['<%= config.bin %> restart redis', '<%= config.bin %> restart orders-db --json']
  static override args = {
    instance: Args.string({
      required: true,
      description: 'instance name or id, or a deployed container (<deployment>/<container>)',
    }),
  }

  async run(): Promise<{id: string; restarted: boolean}> {
    const {args, flags} = await this.parse(Restart)
    const client = await this.client(flags.context)
    const target = await containerByRef(client, args.instance)
    this.note(`restarting ${target.label}`)
    await client.restart(target.id)
    this.log(`${target.label} restarted`)
    return {id: target.id, restarted: true}
  }
}
