import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {confirm, yesFlag} from '../cli/confirm.js'
import {deprovisionInstance, type DeprovisionResult, instanceByRef, labelOf} from '../cli/services/instances.js'

export default class Deprovision extends BrokerCommand {
  static override summary = 'Delete a service instance, its container and its data'
  static override description =
    'Asks for confirmation in a terminal; scripts and CI pass --yes (the older --force still works).'
  static override aliases = ['rm']
  static override examples = [
    '<%= config.bin %> deprovision orders-db',
    '<%= config.bin %> deprovision 5b7c... --yes --json',
  ]
  static override args = {instance: Args.string({required: true, description: 'instance name or id'})}
  static override flags = {
    yes: yesFlag({formerlyForce: true}),
    async: Flags.boolean({description: 'return once accepted'}),
  }

  async run(): Promise<DeprovisionResult> {
    const {args, flags} = await this.parse(Deprovision)
    const client = await this.client(flags.context)
    const instance = await instanceByRef(client, args.instance)
    const label = labelOf(instance)
    if (!flags.yes)
      await confirm(
        `Deprovision ${instance.service} instance ${label}? Its data is deleted.`,
        'pass --yes to deprovision without asking',
      )
    this.note(`deprovisioning ${label}`)
    const result = await deprovisionInstance(client, instance, {async: flags.async, progress: this.note})
    this.log(result.state === 'succeeded' ? `${label} is gone` : `${label} is being deprovisioned`)
    return result
  }
}
