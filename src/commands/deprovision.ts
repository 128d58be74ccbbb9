import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {confirm} from '../cli/confirm.js'
import {instanceByRef} from '../cli/provisioning.js'
import {DbrokerError} from '../core/errors.js'

export default class Deprovision extends BaseCommand {
  static override summary = 'Delete a service instance, its container and its data'
  static override description = 'Asks for confirmation in a terminal; scripts and CI must pass --force.'
  static override aliases = ['rm']
  static override examples = ['<%= config.bin %> deprovision orders-db', '<%= config.bin %> deprovision 5b7c... --force --json']
  static override args = {instance: Args.string({required: true, description: 'instance name or id'})}
  static override flags = {
    force: Flags.boolean({char: 'f', description: 'do not ask'}),
    async: Flags.boolean({description: 'return once accepted'}),
  }

  async run(): Promise<{id: string; name: string | null; state: string}> {
    const {args, flags} = await this.parse(Deprovision)
    const client = await this.client(flags.context)
    const instance = await instanceByRef(client, args.instance)
    const label = instance.name ? `${instance.name} (${instance.id})` : instance.id
    if (!flags.force) await confirm(`Deprovision ${instance.service} instance ${label}? Its data is deleted.`, 'pass --force to deprovision without asking')
    this.note(`deprovisioning ${label}`)
    const reply = await client.deprovision(instance.id, {serviceId: instance.serviceId, planId: instance.planId}, true)
    let state = 'succeeded'
    if (reply.status === 202) {
      state = 'in progress'
      if (!flags.async) {
        const op = await client.waitForOperation(instance.id, reply.body.operation as string | undefined)
        if (op.state === 'failed') throw new DbrokerError(`deprovisioning ${label} failed: ${op.description ?? 'no reason given'}`)
        state = 'succeeded'
      }
    }
    this.log(state === 'succeeded' ? `${label} is gone` : `${label} is being deprovisioned`)
    return {id: instance.id, name: instance.name, state}
  }
}
