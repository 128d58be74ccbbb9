import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {approveHost} from '../../cli/host-identity.js'
import type {PendingHostChange} from '../../core/host-identity.js'

export default class HostsApprove extends BrokerCommand {
  static override summary =
    'Apply the agent URL or address change a host asked for (`dbroker hosts` lists it as PENDING)'
  static override args = {name: Args.string({required: true, description: 'host name, as `dbroker hosts` lists it'})}
  static override examples = ['<%= config.bin %> hosts approve host-1', '<%= config.bin %> hosts approve host-1 --json']

  async run(): Promise<PendingHostChange & {id: string}> {
    const {args, flags} = await this.parse(HostsApprove)
    const change = await approveHost(await this.client(flags.context), args.name)
    if (!this.jsonEnabled())
      this.log(
        `host ${change.id} now has agent URL ${change.agentUrl}, service address ${change.serviceAddress}, bind address ${change.bindAddress}; its agent registers on its next try`,
      )
    return change
  }
}
