import {BaseCommand} from '../cli/base-command.js'
import {hostsTable} from '../cli/views.js'
import type {HostView} from '../core/admin.js'

export default class Hosts extends BaseCommand {
  static override summary = 'List the Docker hosts: liveness, heartbeat age, engine, registry mirrors, logging driver'
  static override examples = ['<%= config.bin %> hosts', '<%= config.bin %> hosts --json']

  async run(): Promise<HostView[]> {
    const {flags} = await this.parse(Hosts)
    const hosts = await (await this.client(flags.context)).hosts()
    if (!this.jsonEnabled()) process.stdout.write(hostsTable(hosts))
    return hosts
  }
}
