import type {CatalogService} from '../client/broker-client.js'
import {BrokerCommand} from '../cli/base-command.js'
import {renderTable} from '../cli/table.js'

export default class Catalog extends BrokerCommand {
  static override summary = 'List the services and plans the broker offers'
  static override examples = ['<%= config.bin %> catalog', '<%= config.bin %> catalog --json --context prod']

  async run(): Promise<CatalogService[]> {
    const {flags} = await this.parse(Catalog)
    const services = await (await this.client(flags.context)).catalog()
    if (!this.jsonEnabled()) {
      const rows = services.flatMap((s) =>
        s.plans.map((p) => ({
          service: s.name,
          plan: p.name,
          free: p.free ?? true,
          bindable: p.bindable ?? s.bindable,
          description: p.description,
        })),
      )
      process.stdout.write(
        renderTable(rows, [
          {header: 'service', value: (r) => r.service},
          {header: 'plan', value: (r) => r.plan},
          {header: 'free', value: (r) => (r.free ? 'yes' : 'no')},
          {header: 'bindable', value: (r) => (r.bindable ? 'yes' : 'no')},
          {header: 'description', value: (r) => r.description},
        ]),
      )
    }
    return services
  }
}
