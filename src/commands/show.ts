import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {instanceDetailText} from '../cli/instance-view.js'
import {instanceByRef} from '../cli/services/instances.js'
import type {InstanceDetail} from '../core/admin.js'

export default class Show extends BrokerCommand {
  static override summary = 'Show one instance: container, health, limits, ports, volumes, last operation, bindings'
  static override examples = ['<%= config.bin %> show redis', '<%= config.bin %> show orders-db --credentials --json']
  static override args = {instance: Args.string({required: true, description: 'instance name or id'})}
  static override flags = {
    credentials: Flags.boolean({description: "include the bindings' credentials"}),
  }

  async run(): Promise<InstanceDetail> {
    const {args, flags} = await this.parse(Show)
    const client = await this.client(flags.context)
    const found = await instanceByRef(client, args.instance)
    const instance = flags.credentials ? await client.instance(found.id, {credentials: true}) : found
    if (!this.jsonEnabled()) process.stdout.write(instanceDetailText(instance))
    return instance
  }
}
