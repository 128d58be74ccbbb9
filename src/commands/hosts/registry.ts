import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {
  type HostRegistryRow,
  hostRegistries,
  hostRegistryTable,
  registryRequest,
  setHostRegistry,
} from '../../cli/services/registries.js'
import {UsageError} from '../../core/errors.js'
import {EVERY_HOST} from '../../core/registries.js'

export default class HostsRegistry extends BrokerCommand {
  static override summary =
    "Set the registry mirrors and insecure registries of a host's engine, or show desired against in force"
  static override description = `The broker records the settings; each host's agent gets them with its heartbeat answer. An agent that manages its engine (\`agent start --manage-engine\`, \`up --manage-engine\`) writes them into dockerd's daemon.json (registry-mirrors, insecure-registries; the rest of the file stays) and reloads dockerd with SIGHUP. Each host reports what its engine has in force; a host whose agent does not manage its engine shows the settings as not applied, and why.

--all sets what every host has, replacing the hosts' own settings; a host set by name afterwards keeps its own. Without --mirror, --insecure or --clear it shows the settings.`

  static override args = {host: Args.string({description: 'host name, as `dbroker hosts` lists it'})}
  static override flags = {
    all: Flags.boolean({description: 'every host (and hosts that register later)'}),
    mirror: Flags.string({multiple: true, description: 'registry mirror URL, e.g. http://10.0.0.9:5000 (repeatable)'}),
    insecure: Flags.string({
      multiple: true,
      description: 'registry reached without TLS: HOST[:PORT] or CIDR (repeatable)',
    }),
    clear: Flags.boolean({description: 'no mirrors and no insecure registries'}),
  }

  static override examples = [
    '<%= config.bin %> hosts registry --all --mirror http://10.0.0.9:5000',
    '<%= config.bin %> hosts registry host-1 --mirror https://mirror.example --insecure registry.lan:5000',
    '<%= config.bin %> hosts registry',
  ]

  async run(): Promise<HostRegistryRow[]> {
    const {args, flags} = await this.parse(HostsRegistry)
    if (args.host && flags.all) throw new UsageError('give a HOST or --all, not both')
    const setting = flags.mirror !== undefined || flags.insecure !== undefined || flags.clear
    const client = await this.client(flags.context)
    let rows: HostRegistryRow[]
    if (setting) {
      const settings = registryRequest(flags)
      if (!args.host && !flags.all)
        throw new UsageError(
          'name the HOST before the flags (--mirror and --insecure take every value after them), or give --all',
          'dbroker hosts registry HOST --mirror URL [URL...]',
        )
      rows = await setHostRegistry(client, args.host ?? EVERY_HOST, settings)
    } else rows = await hostRegistries(client, args.host)
    if (!this.jsonEnabled()) process.stdout.write(hostRegistryTable(rows))
    return rows
  }
}
