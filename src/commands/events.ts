import {Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import type {ChangeEvent} from '../core/admin.js'
import {DbrokerError, UsageError} from '../core/errors.js'

export default class Events extends BrokerCommand {
  static override summary = "Print the broker's changes (instances, bindings, operations, hosts); -f follows them"
  static override description = `Without --follow, prints the last changes the broker saw since it started (it keeps the last 1000 in memory; a restarted broker starts empty) and exits. With --follow, prints them and then each change as it happens, until Ctrl-C; when the broker goes away it exits 1, or with --retry reconnects and goes on.

Lines are: time (UTC), kind, the instance's name (else its short id; a binding or operation says which instance it is of), action, new state, description; a host's heartbeat that changes nothing is left out of them, and -n counts the lines printed. With --json and no --follow, one envelope with the events; with --json --follow, one event per line (NDJSON), and the envelope as the last line when it ends.`
  static override examples = [
    '<%= config.bin %> events',
    '<%= config.bin %> events -f',
    '<%= config.bin %> events -f --json | jq -c \'select(.kind == "binding")\'',
    '<%= config.bin %> events -f --retry --limit 0',
  ]
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'keep printing changes as they happen, until Ctrl-C'}),
    limit: Flags.string({
      char: 'n',
      default: '50',
      description:
        'how many past changes to print first, 0-1000 (lines, after heartbeats that change nothing are left out); 0 with -f: only new ones',
    }),
    retry: Flags.boolean({
      dependsOn: ['follow'],
      description: 'with -f: when the stream ends (broker restarting), reconnect and follow on instead of exiting 1',
    }),
  }

  private following = false

  /** Following, stdout is NDJSON: the closing envelope is one line too. */
  override logJson(json: unknown): void {
    if (this.following) process.stdout.write(`${JSON.stringify(json)}\n`)
    else super.logJson(json)
  }

  async run(): Promise<{events: ChangeEvent[]} | {followed: number}> {
    const {flags: parsed} = await this.parse(Events)
    const flags = {...parsed, limit: limitOf(parsed.limit, parsed.follow)}
    const client = await this.client(flags.context)
    const {followEvents, instanceNames, recentShown, repeatedHostUpdates} = await import('../cli/services/events.js')
    const {eventLine} = await import('../cli/event-line.js')
    const json = this.jsonEnabled()
    // NDJSON keeps every change; lines for people leave out heartbeats that change nothing.
    const repeated = repeatedHostUpdates()
    const shown = json ? undefined : (event: ChangeEvent) => !repeated(event)
    const names = json ? undefined : await instanceNames(client)
    const print = async (event: ChangeEvent) => {
      if (!names) return process.stdout.write(`${JSON.stringify(event)}\n`)
      await names.learn(event)
      this.log(eventLine(event, names.nameOf))
    }
    if (!flags.follow) {
      const events = await recentShown(client, flags.limit, shown)
      if (!json) for (const event of events) await print(event)
      if (events.length === 0)
        this.note('no changes since the broker started (it keeps its last 1000 in memory; follow new ones with -f)')
      return {events}
    }
    this.following = true
    const abort = new AbortController()
    const stop = () => abort.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let followed = 0
    try {
      const stream = followEvents(client, {limit: flags.limit, signal: abort.signal, retry: flags.retry, shown})
      for await (const item of stream) {
        if (item.kind === 'event') {
          followed++
          await print(item.event)
        } else if (item.kind === 'resumed') this.note('event stream resumed')
        else if (!flags.retry)
          throw new DbrokerError(
            `the event stream ended: ${item.reason}`,
            'follow on across broker restarts with `--retry`',
          )
        else this.note(`event stream ended: ${item.reason}; reconnecting`)
      }
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return {followed}
  }
}

/** --limit as a number of past changes: a whole number up to the 1000 the broker keeps; 0 only means something while following. */
function limitOf(value: string, follow: boolean): number {
  if (!/^\d+$/.test(value) || Number(value) > 1000)
    throw new UsageError(`--limit (-n) ${value} is not a number of past changes: give a whole number from 0 to 1000`)
  const limit = Number(value)
  if (limit === 0 && !follow)
    throw new UsageError(
      '--limit (-n) 0 without --follow prints nothing: give how many past changes to print (1-1000), or add -f to follow only new ones',
    )
  return limit
}
