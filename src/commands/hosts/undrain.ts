import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {setDrained} from '../../cli/host-identity.js'

export default class HostsUndrain extends BrokerCommand {
  static override summary = 'Let a drained host take new instances again'
  static override args = {name: Args.string({required: true, description: 'host name, as `dbroker hosts` lists it'})}
  static override examples = ['<%= config.bin %> hosts undrain host-1', '<%= config.bin %> hosts undrain host-1 --json']

  async run(): Promise<{id: string; drained: boolean}> {
    const {args, flags} = await this.parse(HostsUndrain)
    const result = await setDrained(await this.client(flags.context), args.name, false)
    if (!this.jsonEnabled())
      this.log(
        `host ${result.id} is ${result.drained ? 'drained: no new instances go there' : 'undrained: it takes new instances again'}`,
      )
    return result
  }
}
