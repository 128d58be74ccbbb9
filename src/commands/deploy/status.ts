import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {deploymentsStatus, deploymentsTable} from '../../cli/services/deploy.js'
import type {DeploymentView} from '../../core/deployments.js'

export default class DeployStatus extends BrokerCommand {
  static override summary = 'List deployments and the state of their containers'
  static override args = {name: Args.string({description: 'only this deployment'})}
  static override examples = ['<%= config.bin %> deploy status', '<%= config.bin %> deploy status shop --json']

  async run(): Promise<DeploymentView[]> {
    const {args, flags} = await this.parse(DeployStatus)
    const deployments = await deploymentsStatus(await this.client(flags.context), args.name)
    if (!this.jsonEnabled()) {
      if (deployments.length === 0) process.stderr.write('no deployments: make one with `dbroker deploy FILE`\n')
      else process.stdout.write(deploymentsTable(deployments))
    }
    return deployments
  }
}
