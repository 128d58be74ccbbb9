import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {type ServicesResult, servicesResultText, updateServices} from '../../cli/services/catalog-services.js'

export default class ServicesUpdate extends BrokerCommand {
  static override summary = 'Replace services of the catalog with their definitions in a file, at runtime'
  static override description = `Each service of the file (matched by id, else by name) is replaced at the version the catalog has; one that changed meanwhile is a conflict. A plan that still has instances can't be dropped or change its id (the error names them). Existing instances keep their containers until updated; new ones get the new definition. Also how a changed catalog file is applied: the store's catalog wins over the file at start.`
  static override examples = ['<%= config.bin %> services update catalog.yml']
  static override args = {file: Args.string({required: true, description: 'services file (YAML, like catalog.yml)'})}

  async run(): Promise<ServicesResult> {
    const {args, flags} = await this.parse(ServicesUpdate)
    const result = await updateServices(await this.client(flags.context), args.file, this.note)
    if (!this.jsonEnabled()) process.stdout.write(servicesResultText(result, 'updated'))
    return result
  }
}
