import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {unbindBindings, type UnbindResult} from '../cli/services/bind.js'

export default class Unbind extends BrokerCommand {
  static override summary = 'Remove a binding and revoke its credentials'
  static override description = 'A binding id the instance does not have is an error (exit 1).'
  static override examples = ['<%= config.bin %> unbind redis 0e5f...', '<%= config.bin %> unbind redis --all']
  static override args = {
    instance: Args.string({required: true, description: 'instance name or id'}),
    binding: Args.string({description: 'binding id [default: the only binding]'}),
  }
  static override flags = {all: Flags.boolean({description: 'remove every binding of the instance'})}

  async run(): Promise<UnbindResult> {
    const {args, flags} = await this.parse(Unbind)
    const client = await this.client(flags.context)
    const result = await unbindBindings(client, args.instance, {
      binding: args.binding,
      all: flags.all,
      progress: this.note,
    })
    this.log(
      result.unbound.length
        ? `removed ${result.unbound.length} binding(s) of ${args.instance}`
        : `${args.instance} has no bindings`,
    )
    return result
  }
}
