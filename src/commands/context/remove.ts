import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'

export default class ContextRemove extends BaseCommand {
  static override summary = 'Remove a context'
  static override aliases = ['context rm']
  static override examples = ['<%= config.bin %> context remove staging']
  static override args = {name: Args.string({required: true, description: 'context name'})}

  async run(): Promise<{removed: string; current: string | null}> {
    const {args} = await this.parse(ContextRemove)
    const store = this.contexts()
    await store.remove(args.name)
    const current = store.read().current ?? null
    this.log(`removed context ${args.name}${current ? `; current: ${current}` : ''}`)
    return {removed: args.name, current}
  }
}
