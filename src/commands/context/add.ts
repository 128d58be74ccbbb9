import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {UsageError} from '../../core/errors.js'

export default class ContextAdd extends BaseCommand {
  static override summary = 'Add a broker context (--force replaces one that exists)'
  static override description =
    'A context names a broker: its URL, OSB credentials and admin credentials. Contexts live in the config dir, readable only by you (mode 0600).'
  static override examples = [
    '<%= config.bin %> context add prod --url https://broker.example.com --username broker --password s3cret --admin-username admin --admin-password t0p',
    '<%= config.bin %> context add staging --url http://10.0.0.5:9998 --use',
  ]

  static override args = {name: Args.string({required: true, description: 'context name'})}
  static override flags = {
    url: Flags.string({required: true, description: 'broker URL'}),
    username: Flags.string({description: 'OSB basic-auth user'}),
    password: Flags.string({description: 'OSB basic-auth password'}),
    'admin-username': Flags.string({description: 'admin API user'}),
    'admin-password': Flags.string({description: 'admin API password'}),
    use: Flags.boolean({description: 'make it the current context'}),
    force: Flags.boolean({description: 'replace the context of that name if there is one'}),
  }

  async run(): Promise<{name: string; url: string; current: boolean}> {
    const {args, flags} = await this.parse(ContextAdd)
    let url: URL | undefined
    try {
      url = new URL(flags.url)
    } catch {
      url = undefined
    }
    // The broker speaks HTTP(S) only: anything else would fail later, on the first command that uses the context.
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
      throw new UsageError(
        `--url ${flags.url} is not an http:// or https:// URL of a broker`,
        'write it like http://127.0.0.1:9998',
      )
    }
    const store = this.contexts()
    await store.set(
      args.name,
      {
        url: flags.url.replace(/\/+$/, ''),
        username: flags.username,
        password: flags.password,
        adminUsername: flags['admin-username'],
        adminPassword: flags['admin-password'],
      },
      {use: flags.use, replace: flags.force === true},
    )
    const current = store.read().current === args.name
    this.log(`context ${args.name} -> ${flags.url}${current ? ' (current)' : ''}`)
    return {name: args.name, url: flags.url, current}
  }
}
