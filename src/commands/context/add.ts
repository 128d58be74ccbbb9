import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {UsageError} from '../../core/errors.js'

export default class ContextAdd extends BaseCommand {
  static override summary = 'Add a broker context (--force replaces one that exists)'
  static override description =
    'A context names a broker: its URL, OSB credentials and admin credentials. Contexts live in the config dir, readable only by you (mode 0600).'
  static override examples = [
    'printf \'%s\\n%s\\n\' "$OSB_PASSWORD" "$ADMIN_PASSWORD" | <%= config.bin %> context add prod --url https://broker.example.com --username broker --admin-username admin --password-stdin',
    'DBROKER_PASSWORD=… <%= config.bin %> context add prod --url https://broker.example.com --username broker',
    '<%= config.bin %> context add staging --url http://10.0.0.5:9998 --use',
  ]

  static override args = {name: Args.string({required: true, description: 'context name'})}
  static override flags = {
    url: Flags.string({required: true, description: 'broker URL'}),
    username: Flags.string({description: 'OSB basic-auth user'}),
    'admin-username': Flags.string({description: 'admin API user'}),
    'password-stdin': Flags.boolean({
      description:
        'read the passwords from stdin, one a line: the OSB one (with --username), then the admin one (with --admin-username); else they come from DBROKER_PASSWORD and DBROKER_ADMIN_PASSWORD',
    }),
    // Refused with the way to do it: on a command line, a password is in every user's `ps`.
    password: Flags.string({hidden: true}),
    'admin-password': Flags.string({hidden: true}),
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
    if (flags.password !== undefined || flags['admin-password'] !== undefined)
      throw new UsageError(
        `--${flags.password === undefined ? 'admin-password' : 'password'} would put a password in the process list, where every user of this machine reads it`,
        'pass the passwords on stdin with --password-stdin, or in DBROKER_PASSWORD and DBROKER_ADMIN_PASSWORD',
      )
    const {password, adminPassword} = await this.passwords(flags)
    const store = this.contexts()
    await store.set(
      args.name,
      {
        url: flags.url.replace(/\/+$/, ''),
        username: flags.username,
        password,
        adminUsername: flags['admin-username'],
        adminPassword,
      },
      {use: flags.use, replace: flags.force === true},
    )
    const current = store.read().current === args.name
    this.log(`context ${args.name} -> ${flags.url}${current ? ' (current)' : ''}`)
    return {name: args.name, url: flags.url, current}
  }

  /** The passwords of the users given: from stdin with --password-stdin, else from the environment. */
  private async passwords(flags: {
    username?: string
    'admin-username'?: string
    'password-stdin'?: boolean
  }): Promise<{password?: string; adminPassword?: string}> {
    const wanted = [flags.username && 'password', flags['admin-username'] && 'admin password'].filter(Boolean)
    if (!flags['password-stdin'])
      return {
        password: flags.username ? process.env.DBROKER_PASSWORD : undefined,
        adminPassword: flags['admin-username'] ? process.env.DBROKER_ADMIN_PASSWORD : undefined,
      }
    if (wanted.length === 0) throw new UsageError('--password-stdin needs --username or --admin-username')
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    const lines = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)
    if (lines.length < wanted.length || lines.slice(0, wanted.length).some((l) => l === ''))
      throw new UsageError(`--password-stdin: stdin needs ${wanted.join(' then ')}, one a line`)
    const [first, second] = lines
    return flags.username
      ? {password: first, adminPassword: flags['admin-username'] ? second : undefined}
      : {adminPassword: first}
  }
}
