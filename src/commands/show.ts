import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {deployedContainerText, instanceDetailText} from '../cli/instance-view.js'
import {resolveRef} from '../cli/services/instances.js'
import type {InstanceDetail} from '../core/admin.js'
import type {DeployedContainerView} from '../core/deployments.js'
import {DbrokerError} from '../core/errors.js'

export default class Show extends BrokerCommand {
  static override summary = 'Show one instance: container, health, limits, ports, volumes, last operation, bindings'
  static override description =
    'A container of a manifest deploy (`dbroker deploy`) is found as `logs` and `restart` find it: by its name, <deployment>/<container> or id; it shows what the deploy made of it and what its host reports.'
  static override examples = [
    '<%= config.bin %> show redis',
    '<%= config.bin %> show orders-db --credentials --json',
    '<%= config.bin %> show shop/web',
  ]
  static override args = {
    instance: Args.string({
      required: true,
      description: 'instance name or id, or a deployed container (<deployment>/<container>)',
    }),
  }
  static override flags = {
    credentials: Flags.boolean({description: "include the bindings' credentials"}),
  }

  async run(): Promise<InstanceDetail | DeployedContainerView> {
    const {args, flags} = await this.parse(Show)
    const client = await this.client(flags.context)
    const found = await resolveRef(client, args.instance)
    if (found.kind === 'deployed') {
      if (flags.credentials)
        throw new DbrokerError(
          `--credentials: ${found.target.label} is a deployed container, which has no bindings`,
          `show it without --credentials: \`dbroker show ${found.target.label}\``,
        )
      if (!this.jsonEnabled()) process.stdout.write(deployedContainerText(found.container))
      return found.container
    }
    const instance = flags.credentials ? await client.instance(found.instance.id, {credentials: true}) : found.instance
    if (!this.jsonEnabled()) process.stdout.write(instanceDetailText(instance))
    return instance
  }
}
