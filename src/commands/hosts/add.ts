import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {enrollHost} from '../../cli/host-identity.js'

export default class HostsAdd extends BrokerCommand {
  static override summary = "Enroll a host: make its own token, for its agent's --token-file"
  static override description = `The token is shown once (the broker keeps only its hash): with --token-file it goes into that file (mode 0600) instead of the terminal. Copy it to the host and start its agent with \`dbroker agent start --id HOST --token-file FILE\`. That token lets the agent register and heartbeat as this host only.

--rotate makes a new token for an enrolled host; the old one stops working at once.`

  static override args = {name: Args.string({required: true, description: 'host name, as its agent registers (--id)'})}
  static override flags = {
    'token-file': Flags.string({description: 'write the token to this file (0600) instead of printing it'}),
    rotate: Flags.boolean({description: 'replace the token of an enrolled host'}),
  }

  static override examples = [
    '<%= config.bin %> hosts add host-1 --token-file host-1.token',
    '<%= config.bin %> hosts add host-1 --rotate --token-file host-1.token',
  ]

  async run(): Promise<{id: string; token?: string; tokenFile?: string}> {
    const {args, flags} = await this.parse(HostsAdd)
    const result = await enrollHost(await this.client(flags.context), args.name, {
      rotate: flags.rotate,
      tokenFile: flags['token-file'],
    })
    if (!this.jsonEnabled()) {
      if (result.token) this.log(result.token)
      this.note(
        `host ${result.id}: ${result.tokenFile ? `its token is in ${result.tokenFile}` : 'this is its token, shown only now'}; start its agent with \`dbroker agent start --id ${result.id} --token-file FILE\``,
      )
    }
    return result
  }
}
