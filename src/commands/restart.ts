import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {confirm} from '../cli/confirm.js'
import {UsageError} from '../core/errors.js'
import {containerByRef, sharedRestartWarning} from '../cli/services/instances.js'

export default class Restart extends BrokerCommand {
  static override summary = "Restart an instance's container (its data and credentials stay)"
  static override description =
    'An instance of a shared plan (or an existing one) lives in a container that serves other instances too: restarting it interrupts them all, so it asks first in a terminal, and scripts pass --force. A static instance has no container.'
  static override examples = [
    '<%= config.bin %> restart redis',
    '<%= config.bin %> restart orders-db --json',
    '<%= config.bin %> restart tenant-a --force',
  ]
  static override args = {
    instance: Args.string({
      required: true,
      description: 'instance name or id, or a deployed container (<deployment>/<container>)',
    }),
  }
  static override flags = {
    force: Flags.boolean({
      description: 'also restart a shared or adopted container, interrupting every instance in it',
    }),
  }

  async run(): Promise<{id: string; restarted: boolean}> {
    const {args, flags} = await this.parse(Restart)
    const client = await this.client(flags.context)
    const target = await containerByRef(client, args.instance)
    const warning = sharedRestartWarning(target)
    if (warning && !flags.force) {
      if (!process.stdin.isTTY || !process.stderr.isTTY)
        throw new UsageError(warning, 'pass --force to restart it anyway')
      await confirm(`${warning}. Restart it?`, 'pass --force to restart it anyway')
    }
    this.note(
      warning
        ? `restarting the container of ${target.label} (${warning.split(': ')[1]})`
        : `restarting ${target.label}`,
    )
    await client.restart(target.id, {force: Boolean(warning)})
    this.log(`${target.label} restarted`)
    return {id: target.id, restarted: true}
  }
}
