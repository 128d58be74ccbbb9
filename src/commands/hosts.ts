import {BrokerCommand} from '../cli/base-command.js'
import {type HostListing, identityNotes, listHosts} from '../cli/host-identity.js'
import {hostsTable} from '../cli/views.js'

export default class Hosts extends BrokerCommand {
  static override summary =
    'List the Docker hosts: liveness, heartbeat age, engine, registry mirrors, logging driver; address changes waiting for approval'
  static override examples = ['<%= config.bin %> hosts', '<%= config.bin %> hosts --json']

  async run(): Promise<HostListing[]> {
    const {flags} = await this.parse(Hosts)
    const listing = await listHosts(await this.client(flags.context))
    if (!this.jsonEnabled())
      process.stdout.write(
        hostsTable(listing.hosts) +
          identityNotes(listing)
            .map((line) => `${line}\n`)
            .join(''),
      )
    return listing.hosts
  }
}
