import {Help, type Interfaces} from '@oclif/core'

/**
 * oclif's help, without compiling an EJS template for text that has none: the root help
 * renders each of ~70 summaries and topic lines through `ejs.render`, which builds a new
 * function every call (~5 ms of a ~15 ms help). Text with `<%` still goes through EJS.
 */
export default class DbrokerHelp extends Help {
  constructor(config: Interfaces.Config, options?: Partial<Interfaces.HelpOptions>) {
    super(config, options)
    const render = this.render
    this.render = (input: string) => (input.includes('<%') ? render(input) : input)
  }
}
