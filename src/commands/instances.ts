import {Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {listInstances} from '../cli/services/instances.js'
import {deployedContainers} from '../client/deployments-client.js'
import {instancesTable} from '../cli/views.js'
import type {InstanceView} from '../core/admin.js'

export default class Instances extends BrokerCommand {
  static override summary = 'List service instances with their container health, endpoint, CPU and memory'
  static override aliases = ['ls']
  static override examples = [
    '<%= config.bin %> instances',
    '<%= config.bin %> ls --service redis',
    '<%= config.bin %> instances --json',
  ]
  static override flags = {
    service: Flags.string({description: 'only instances of this service (name or id); an unknown one is an error'}),
    stats: Flags.boolean({
      default: true,
      allowNo: true,
      description: 'sample CPU and memory (--no-stats is faster with many instances)',
    }),
  }

  async run(): Promise<InstanceView[]> {
    const {flags} = await this.parse(Instances)
    const client = await this.client(flags.context)
    // Deployed containers (service "deploy") follow the service instances; --service names a catalog service, so not them.
    const [listed, deployed] = await Promise.all([
      listInstances(client, {service: flags.service, stats: flags.stats}),
      flags.service === undefined ? deployedContainers(client) : [],
    ])
    const instances = [...listed, ...deployed]
    if (!this.jsonEnabled()) {
      if (instances.length === 0)
        process.stderr.write('no instances: create one with `dbroker provision SERVICE` or `dbroker bind SERVICE`\n')
      else process.stdout.write(instancesTable(instances))
    }
    return instances
  }
}
