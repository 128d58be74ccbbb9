import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {registryArgument} from '../../cli/services/registries.js'

export default class RegistryLogout extends BrokerCommand {
  static override summary = "Remove a private registry's login from the broker"
  static override args = {registry: Args.string({required: true, description: 'the registry: HOST[:PORT] or its URL'})}
  static override examples = ['<%= config.bin %> registry logout registry.example:5000']

  async run(): Promise<{registry: string; removed: boolean}> {
    const {args, flags} = await this.parse(RegistryLogout)
    const result = await (await this.client(flags.context)).registryLogout(registryArgument(args.registry))
    if (!this.jsonEnabled()) this.log(`login for ${result.registry} removed`)
    return result
  }
}
