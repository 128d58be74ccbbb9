import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {addServices, type ServicesResult, servicesResultText} from '../../cli/services/catalog-services.js'

export default class ServicesAdd extends BrokerCommand {
  static override summary = 'Add the services of a file to the catalog, at runtime'
  static override description = `The file has the catalog file's shape (services: [...]). It is checked here first, then by the broker against the catalog (ids and names unique across services); errors name the file, field and line, and nothing is stored then. Every broker on the store serves the new services at once; build contexts are relative to the file.`
  static override examples = [
    '<%= config.bin %> services add memcached.yml',
    '<%= config.bin %> services add x.yml --json',
  ]
  static override args = {file: Args.string({required: true, description: 'services file (YAML, like catalog.yml)'})}

  async run(): Promise<ServicesResult> {
    const {args, flags} = await this.parse(ServicesAdd)
    const result = await addServices(await this.client(flags.context), args.file, this.note)
    if (!this.jsonEnabled()) process.stdout.write(servicesResultText(result, 'added'))
    return result
  }
}
