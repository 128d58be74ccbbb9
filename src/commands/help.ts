import {Args, Command, Flags, loadHelpClass} from '@oclif/core'

/**
 * `dbroker help [COMMAND]`, as @oclif/plugin-help's: a command of this CLI's own manifest,
 * so no plugin is loaded on every start (--help needs none).
 */
export default class Help extends Command {
  static override summary = 'Display help for <%= config.bin %> or one of its commands'
  static override args = {command: Args.string({description: 'the command to show help for', required: false})}
  static override flags = {
    'nested-commands': Flags.boolean({char: 'n', description: 'include all nested commands in the output'}),
  }
  static override strict = false

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Help)
    const HelpClass = await loadHelpClass(this.config)
    await new HelpClass(this.config, {all: flags['nested-commands']}).showHelp(argv as string[])
  }
}
