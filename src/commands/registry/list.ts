import {BrokerCommand} from '../../cli/base-command.js'
import {renderTable} from '../../cli/table.js'
import {formatDuration} from '../../core/format.js'
import type {RegistryLogin} from '../../core/registries.js'

export default class RegistryList extends BrokerCommand {
  static override summary = 'List the private registries the broker has a login for (never their passwords)'
  static override examples = ['<%= config.bin %> registry list', '<%= config.bin %> registry list --json']

  async run(): Promise<RegistryLogin[]> {
    const {flags} = await this.parse(RegistryList)
    const logins = await (await this.client(flags.context)).registryLogins()
    const now = Date.now()
    if (!this.jsonEnabled())
      process.stdout.write(
        renderTable(logins, [
          {header: 'registry', value: (l) => l.registry},
          {header: 'username', value: (l) => l.username},
          {header: 'stored', value: (l) => `${formatDuration(now - l.updatedAt)} ago`, align: 'right'},
        ]),
      )
    return logins
  }
}
