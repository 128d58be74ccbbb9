import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {revokeHost} from '../../cli/host-identity.js'

export default class HostsRevoke extends BrokerCommand {
  static override summary =
    "Revoke a host's token: its agent can no longer register or heartbeat, and brokers stop calling it"
  static override args = {name: Args.string({required: true, description: 'host name, as `dbroker hosts` lists it'})}
  static override examples = ['<%= config.bin %> hosts revoke host-1']

  async run(): Promise<{id: string; revoked: boolean}> {
    const {args, flags} = await this.parse(HostsRevoke)
    const result = await revokeHost(await this.client(flags.context), args.name)
    if (!this.jsonEnabled())
      this.log(
        `host ${result.id}: its token is revoked and it is dead: nothing new goes there. \`dbroker hosts add ${result.id}\` enrolls it again`,
      )
    return result
  }
}
