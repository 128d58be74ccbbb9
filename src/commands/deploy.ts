import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {deployFailure, deployManifest, deployResultText} from '../cli/services/deploy.js'
import type {DeployResult} from '../core/deployments.js'

export default class Deploy extends BrokerCommand {
  static override summary = 'Deploy a manifest of containers per host; the hosts keep them as declared'
  static override description = `Creates what is missing, recreates what changed (the containers that depend on it restart after it), removes what left the manifest. A bad manifest is refused with its file, path and line; nothing is stored then. See also: deploy status, deploy delete.`
  static override examples = [
    '<%= config.bin %> deploy shop.yml --dry-run',
    '<%= config.bin %> deploy shop.yml',
    '<%= config.bin %> deploy shop.yml --json',
  ]
  static override args = {manifest: Args.string({required: true, description: 'the manifest file (YAML)'})}
  static override flags = {
    'dry-run': Flags.boolean({description: 'print what the deploy would do, and do nothing'}),
  }

  async run(): Promise<DeployResult> {
    const {args, flags} = await this.parse(Deploy)
    const client = await this.client(flags.context)
    const result = await deployManifest(client, args.manifest, {dryRun: flags['dry-run'], progress: this.note})
    if (!this.jsonEnabled()) process.stdout.write(deployResultText(result))
    const failure = deployFailure(result)
    if (failure) throw failure
    return result
  }
}
