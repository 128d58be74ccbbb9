import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {labelOf} from '../cli/services/instances.js'
import {parseParameters} from '../cli/services/parameters.js'
import {updateInstance, type UpdateResult} from '../cli/services/update.js'

export default class Update extends BrokerCommand {
  static override summary = "Change an instance's plan or parameters (its data, port and credentials stay)"
  static override description =
    'An OSB update through the broker: the container is made again with the new plan or parameters, keeping its volume, host port and credentials. Waits until it is done (progress on stderr), unless --async.'
  static override examples = [
    '<%= config.bin %> update orders-db --plan medium',
    `<%= config.bin %> update redis -c '{"maxmemory_policy":"allkeys-lru"}'`,
    '<%= config.bin %> update orders-db -c @params.json --json',
  ]
  static override args = {instance: Args.string({required: true, description: 'instance name, id or id prefix'})}
  static override flags = {
    plan: Flags.string({description: 'the plan to move to (name or id)'}),
    config: Flags.string({char: 'c', description: 'parameters to change, as JSON or @FILE with JSON'}),
    async: Flags.boolean({description: 'return once accepted; follow with `dbroker show`'}),
  }

  async run(): Promise<UpdateResult> {
    const {args, flags} = await this.parse(Update)
    const parameters = parseParameters(flags.config)
    const client = await this.client(flags.context)
    const result = await updateInstance(client, args.instance, {
      plan: flags.plan,
      parameters,
      async: flags.async,
      progress: this.note,
    })
    const label = labelOf(result)
    const plan =
      result.plan === result.previousPlan ? `plan ${result.plan}` : `plan ${result.previousPlan} -> ${result.plan}`
    this.log(
      result.state === 'unchanged'
        ? `${label} is unchanged: it has that plan and those parameters already`
        : result.state === 'succeeded'
          ? `${label} is updated (${result.service}, ${plan})`
          : `${label} is being updated (${plan}, operation ${result.operation ?? '?'})`,
    )
    return result
  }
}
