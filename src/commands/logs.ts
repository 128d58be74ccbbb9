import {Args, Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {escapeControls} from '../core/control-chars.js'
import {DbrokerError, UsageError} from '../core/errors.js'

/** Without --tail a long-lived instance's whole log would flood the terminal (and the broker used to buffer it). */
const DEFAULT_TAIL = 200

export default class Logs extends BrokerCommand {
  static override summary = "Print an instance's container logs"
  static override description =
    "Reads the logs through the broker from the Docker engine's logs API, for any logging driver the engine can read back: json-file, local and journald directly, syslog, gelf and fluentd through Engine 20.10's read-back cache (dual logging; an error naming the driver when that is off). For a log-collector instance these are the lines drained to it, each prefixed with its sender. The last 200 lines unless --tail says otherwise (--tail all for everything). With --json, one envelope with the lines once they end (not with --follow)."
  static override examples = [
    '<%= config.bin %> logs redis --tail 100',
    '<%= config.bin %> logs redis --tail all > redis.log',
    '<%= config.bin %> logs orders-db -f --since 10m',
    "<%= config.bin %> logs redis --grep 'WARN|ERR'",
  ]
  static override args = {
    instance: Args.string({
      required: true,
      description: 'instance name or id, or a deployed container (<deployment>/<container>)',
    }),
  }
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'keep printing new lines'}),
    tail: Flags.string({
      default: String(DEFAULT_TAIL),
      description: `only the last N lines, or "all" for the whole log`,
    }),
    since: Flags.string({description: 'only lines since a duration ago (10m, 2h) or a date'}),
    grep: Flags.string({description: 'only lines matching this regular expression'}),
    timestamps: Flags.boolean({char: 't', description: 'prefix each line with its timestamp'}),
    retry: Flags.boolean({
      dependsOn: ['follow'],
      description: 'with -f: when the stream ends (broker restarting), reconnect and follow on instead of exiting 1',
    }),
  }

  async run(): Promise<{lines: string[]} | void> {
    const {args, flags} = await this.parse(Logs)
    if (flags.follow && this.jsonEnabled())
      throw new UsageError('--json collects the lines once they end; it cannot be used with --follow')
    let pattern: RegExp | undefined
    try {
      pattern = flags.grep === undefined ? undefined : new RegExp(flags.grep)
    } catch (error) {
      throw new UsageError(`--grep ${flags.grep} is not a regular expression: ${(error as Error).message}`)
    }
    if (flags.tail !== 'all' && !/^\d+$/.test(flags.tail))
      throw new UsageError(`--tail ${flags.tail} is not a number of lines or "all"`)
    const tail = flags.tail === 'all' ? undefined : Number(flags.tail)
    if (flags.since && !/^\d+[smhd]$|^\d+$/.test(flags.since) && Number.isNaN(Date.parse(flags.since))) {
      throw new UsageError(`--since ${flags.since} is not a duration (10m, 2h) or a date`)
    }
    const client = await this.client(flags.context)
    const {containerByRef} = await import('../cli/services/instances.js')
    const {id} = await containerByRef(client, args.instance)
    const abort = new AbortController()
    const stop = () => abort.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    const lines: string[] = []
    let partial = ''
    const emit = (line: string) => {
      if (pattern && !pattern.test(line)) return
      if (this.jsonEnabled()) lines.push(line)
      // A tenant writes these lines: on a terminal only their colours get through, piped they stay as they are.
      else
        process.stdout.write(
          `${process.stdout.isTTY ? escapeControls(line, {keepColors: true, keepTabs: true}) : line}\n`,
        )
    }
    const take = (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) emit(line)
    }
    const flushPartial = () => {
      if (partial) emit(partial)
      partial = ''
    }
    try {
      if (!flags.follow) {
        for await (const chunk of client.logs(id, {
          tail,
          since: flags.since,
          timestamps: flags.timestamps,
          signal: abort.signal,
        }))
          take(chunk)
        flushPartial()
      } else {
        const {followLogs} = await import('../client/log-stream.js')
        for await (const event of followLogs(client, id, {
          tail,
          since: flags.since,
          timestamps: flags.timestamps,
          signal: abort.signal,
          retry: flags.retry,
        })) {
          if (event.kind === 'text') take(event.text)
          else if (event.kind === 'resumed') this.note('log stream resumed')
          else {
            flushPartial()
            if (!flags.retry)
              throw new DbrokerError(
                `the log stream ended: ${event.reason}`,
                "follow on across restarts (the container's or the broker's) with `--retry`",
              )
            this.note(`log stream ended: ${event.reason}; reconnecting`)
          }
        }
        flushPartial()
      }
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    if (this.jsonEnabled()) return {lines}
  }
}
