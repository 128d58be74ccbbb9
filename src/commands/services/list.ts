import {BrokerCommand} from '../../cli/base-command.js'
import {listServices, servicesTable} from '../../cli/services/catalog-services.js'
import type {CatalogList} from '../../core/catalog-admin.js'

export default class ServicesList extends BrokerCommand {
  static override summary = "List the services of the broker's stored catalog, with their versions"
  static override description =
    'The catalog every broker on the store serves; change it with services add, update and remove (no restart).'
  static override examples = ['<%= config.bin %> services list', '<%= config.bin %> services list --json']

  async run(): Promise<CatalogList> {
    const {flags} = await this.parse(ServicesList)
    const list = await listServices(await this.client(flags.context))
    if (!this.jsonEnabled()) process.stdout.write(servicesTable(list))
    return list
  }
}
