import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {confirm} from '../../cli/confirm.js'
import {removeService, storedService} from '../../cli/services/catalog-services.js'
import type {CatalogChange} from '../../core/catalog-admin.js'

export default class ServicesRemove extends BrokerCommand {
  static override summary = 'Remove a service from the catalog, at runtime'
  static override description =
    'Asks for confirmation in a terminal; scripts and CI must pass --yes. A service whose plans still have instances stays (the error names them): deprovision them first.'
  static override args = {name: Args.string({required: true, description: 'the service, as `services list` names it'})}
  static override flags = {yes: Flags.boolean({char: 'y', description: 'do not ask'})}
  static override examples = [
    '<%= config.bin %> services remove memcached',
    '<%= config.bin %> services remove memcached --yes --json',
  ]

  async run(): Promise<CatalogChange> {
    const {args, flags} = await this.parse(ServicesRemove)
    const client = await this.client(flags.context)
    const service = await storedService(client, args.name)
    if (!flags.yes)
      await confirm(
        `Remove service ${service.name} (plans ${service.definition.plans.map((p) => p.name).join(', ')}) from the catalog?`,
        'pass --yes to remove without asking',
      )
    const result = await removeService(client, service)
    if (!this.jsonEnabled()) this.log(`${service.name} removed (catalog generation ${result.generation})`)
    return result
  }
}
