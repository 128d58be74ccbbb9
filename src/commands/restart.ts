import {Args} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {instanceByRef, labelOf} from '../cli/services/instances.js'

export default class Restart extends BrokerCommand {
  static override summary = "Restart an instance's container (its data and credentials stay)"
  static override examples = ['<%= config.bin %> restart redis', '<%= config.bin %> restart orders-db --json']
  static override args = {instance: Args.string({required: true, description: 'instance name or id'})}

  async run(): Promise<{id: string; restarted: boolean}> {
    const {args, flags} = await this.parse(Restart)
    const client = await this.client(flags.context)
    const instance = await instanceByRef(client, args.instance)
    this.note(`restarting ${labelOf(instance)}`)
    await client.restart(instance.id)
    this.log(`${labelOf(instance)} restarted`)
    return {id: instance.id, restarted: true}
  }
}
