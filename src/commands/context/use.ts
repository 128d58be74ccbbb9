import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class ContextUse extends BaseCommand {
  static override summary = 'Make a context the current one'
  static override examples = ['<%= config.bin %> context use prod']
  static override args = {name: Args.string({required: true, description: 'context name'})}

  async run(): Promise<{current: string}> {
    const {args} = await this.parse(ContextUse)
    await this.contexts().use(args.name)
    this.log(`current context: ${args.name}`)
    return {current: args.name}
  }
}
