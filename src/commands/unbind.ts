import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {instanceByRef} from '../cli/provisioning.js'
import {UsageError} from '../core/errors.js'

export default class Unbind extends BaseCommand {
  static override summary = "Remove a binding and revoke its credentials"
  static override examples = ['<%= config.bin %> unbind redis 0e5f...', '<%= config.bin %> unbind redis --all']
  static override args = {
    instance: Args.string({required: true, description: 'instance name or id'}),
    binding: Args.string({description: 'binding id [default: the only binding]'}),
  }
  static override flags = {all: Flags.boolean({description: 'remove every binding of the instance'})}

  async run(): Promise<{instance: string; unbound: string[]}> {
    const {args, flags} = await this.parse(Unbind)
    const client = await this.client(flags.context)
    const instance = await instanceByRef(client, args.instance)
    const bound = instance.bindings.map((b) => b.id)
    let targets: string[]
    if (args.binding) targets = [args.binding]
    else if (flags.all) targets = bound
    else if (bound.length === 1) targets = bound
    else if (bound.length === 0) targets = []
    else throw new UsageError(`${args.instance} has ${bound.length} bindings`, `name one (${bound.slice(0, 3).join(', ')}${bound.length > 3 ? ', ...' : ''}) or pass --all`)
    for (const id of targets) {
      this.note(`unbinding ${id}`)
      await client.unbind(instance.id, id, {serviceId: instance.serviceId, planId: instance.planId})
    }
    this.log(targets.length ? `removed ${targets.length} binding(s) of ${instance.name ?? instance.id}` : `${instance.name ?? instance.id} has no bindings`)
    return {instance: instance.id, unbound: targets}
  }
}
