import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {readPasswordFromStdin, registryArgument} from '../../cli/services/registries.js'
import {UsageError} from '../../core/errors.js'

export default class RegistryLogin extends BrokerCommand {
  static override summary = 'Store the login of a private registry in the broker, for pulling plan images from it'
  static override description = `The broker keeps the password encrypted with the store's other secrets and never answers it. An agent about to pull an image from that registry asks its broker for the login (only for images its own containers use) and pulls with it; a refused login fails the operation naming the registry and the user. The password comes from stdin only, so it is in no process's arguments or shell history.`

  static override args = {registry: Args.string({required: true, description: 'the registry: HOST[:PORT] or its URL'})}
  static override flags = {
    username: Flags.string({char: 'u', required: true, description: 'user name at the registry'}),
    'password-stdin': Flags.boolean({required: true, description: 'read the password from stdin'}),
  }

  static override examples = [
    'printf %s "$PASSWORD" | <%= config.bin %> registry login registry.example:5000 --username ci --password-stdin',
  ]

  async run(): Promise<{registry: string; username: string}> {
    const {args, flags} = await this.parse(RegistryLogin)
    if (!flags['password-stdin']) throw new UsageError('give the password on stdin with --password-stdin')
    const registry = registryArgument(args.registry)
    const password = await readPasswordFromStdin()
    const result = await (
      await this.client(flags.context)
    ).registryLogin(registry, {username: flags.username, password})
    if (!this.jsonEnabled()) this.log(`login for ${result.registry} stored (user ${result.username})`)
    return result
  }
}
