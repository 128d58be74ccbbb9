import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {resolvePlan} from '../cli/services/catalog.js'
import {provisionInstance, type ProvisionResult} from '../cli/services/instances.js'
import {parseParameters} from '../cli/services/parameters.js'

export default class Provision extends BrokerCommand {
  static override summary = 'Create a service instance'
  static override description =
    'Provisions through the OSB API and waits until the container accepts connections, unless --async. A --name another instance has is an error (exit 1).'
  static override examples = [
    '<%= config.bin %> provision redis',
    '<%= config.bin %> provision postgresql --plan medium --name orders-db',
    `<%= config.bin %> provision redis -c '{"maxmemory_policy":"allkeys-lru"}'`,
    '<%= config.bin %> provision postgresql -c @params.json --async --json',
  ]
  static override args = {
    service: Args.string({required: true, description: 'service name or id from `dbroker catalog`'}),
  }
  static override flags = {
    plan: Flags.string({description: 'plan name or id [default: the first plan]'}),
    name: Flags.string({char: 'n', description: 'instance name, unique; commands accept it in place of the id'}),
    config: Flags.string({char: 'c', description: 'parameters as JSON, or @FILE with JSON'}),
    async: Flags.boolean({description: 'return once accepted; follow with `dbroker instances`'}),
  }

  async run(): Promise<ProvisionResult> {
    const {args, flags} = await this.parse(Provision)
    const parameters = parseParameters(flags.config)
    const client = await this.client(flags.context)
    const {service, plan} = resolvePlan(await client.catalog(), args.service, flags.plan)
    const result = await provisionInstance(client, {
      service,
      plan,
      name: flags.name,
      parameters,
      async: flags.async,
      progress: this.note,
    })
    const label = result.name ?? result.id
    this.log(
      result.state === 'succeeded'
        ? `${label} is ready (${service.name}/${plan.name}, id ${result.id})`
        : `${label} is being provisioned (id ${result.id})`,
    )
    return result
  }
}
