import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {confirm} from '../../cli/confirm.js'
import {DeploymentsClient} from '../../client/deployments-client.js'
import type {DeleteDeploymentResult} from '../../core/deployments.js'

export default class DeployDelete extends BrokerCommand {
  static override summary = 'Remove a deployment: every container it has on every host, and their volumes'
  static override description = 'Asks for confirmation in a terminal; scripts and CI must pass --yes.'
  static override args = {
    name: Args.string({required: true, description: 'the deployment, as `deploy status` lists it'}),
  }
  static override flags = {yes: Flags.boolean({char: 'y', description: 'do not ask'})}
  static override examples = [
    '<%= config.bin %> deploy delete shop',
    '<%= config.bin %> deploy delete shop --yes --json',
  ]

  async run(): Promise<DeleteDeploymentResult> {
    const {args, flags} = await this.parse(DeployDelete)
    const deployments = new DeploymentsClient(await this.client(flags.context))
    const deployment = await deployments.get(args.name)
    if (!flags.yes)
      await confirm(
        `Delete deployment ${deployment.name} and its ${deployment.containers.length} container(s)? Their volumes are deleted.`,
        'pass --yes to delete without asking',
      )
    this.note(`deleting ${deployment.name}`)
    const result = await deployments.remove(args.name)
    const pending = result.containers.filter((c) => c.state !== 'removed')
    if (!this.jsonEnabled())
      this.log(
        result.deleted
          ? `${result.deployment} is gone`
          : `${result.deployment}: ${pending.map((c) => `${c.container} on ${c.host}`).join(', ')} not removed yet (${pending[0]?.error ?? 'pending'}); the broker tells the host again`,
      )
    return result
  }
}
