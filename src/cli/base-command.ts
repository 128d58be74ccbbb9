import {Command, Errors, Flags, type Interfaces} from '@oclif/core'

import type {BrokerClient} from '../client/broker-client.js'
import {escapeControls} from '../core/control-chars.js'
import {DbrokerError, errorMessage, LocalLinesError, UsageError} from '../core/errors.js'
import {ContextStore, resolveTarget} from './contexts.js'

/**
 * Every command's error handling and `--json` envelope in one place:
 * `{"status":0,"result":...}` on success, `{"status":N,"error":{name,message}}`
 * on failure; exit 0 ok, 1 failure, 2 usage.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    'log-level': Flags.string({
      options: ['debug', 'info', 'warn', 'error', 'silent'],
      default: 'info',
      helpGroup: 'GLOBAL',
      description: 'how much to log on stderr',
    }),
  }

  /** Progress for people, on stderr; silent with --json. */
  protected note = (line: string): void => {
    if (!this.jsonEnabled()) process.stderr.write(`${escapeControls(line)}\n`)
  }

  /** Result lines name instances and bindings the broker sent: their control characters are shown, not obeyed. */
  override log(message = '', ...args: unknown[]): void {
    super.log(escapeControls(message), ...args)
  }

  /**
   * Refuses a secret given as an argument: a long-running process's arguments are in every user's `ps`.
   * `flags` maps each secret flag to the environment variable that takes it instead.
   */
  protected refuseSecretArguments(flags: Record<string, string>, also = ''): void {
    for (const arg of this.argv) {
      const name = /^--([a-z-]+)(?:=|$)/.exec(arg)?.[1]
      if (name && flags[name])
        throw new UsageError(
          `--${name} would put a secret in the process list, where every user of this machine reads it`,
          `set ${flags[name]} instead${also}`,
        )
    }
  }

  protected contexts(): ContextStore {
    return new ContextStore(this.config.configDir)
  }

  protected override toSuccessJson(result: unknown): unknown {
    return {status: 0, result}
  }

  protected override toErrorJson(error: unknown): unknown {
    const exitCode = exitCodeOf(error)
    return {status: exitCode, error: {name: (error as Error).name ?? 'Error', message: errorMessage(error)}}
  }

  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const exitCode = exitCodeOf(error)
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(error))
      this.exit(exitCode)
    }
    if (error instanceof DbrokerError) {
      const {hint} = error as DbrokerError
      // Usage errors and a file's problems (one per line) are this process's own words about local input; anything else may carry a broker's text.
      const local = {
        keepLineBreaks:
          error instanceof UsageError ||
          error instanceof LocalLinesError ||
          Array.isArray((error as {problems?: unknown}).problems),
      }
      process.stderr.write(
        `Error: ${escapeControls(error.message, local)}\n${hint ? `  Try: ${escapeControls(hint, local)}\n` : ''}`,
      )
      this.exit(exitCode)
    }
    if (exitCode === 2) {
      // oclif's parser adds a "See more help" line of its own and names the command with colons.
      const message = errorMessage(error).replace(/\n?See more help with --help\s*$/, '')
      const command = (this.id ?? '').replaceAll(':', this.config.topicSeparator)
      process.stderr.write(
        `Error: ${escapeControls(message, {keepLineBreaks: true})}\n  See: ${this.config.bin} ${command} --help\n`,
      )
      this.exit(2)
    }
    return super.catch(error)
  }
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return 2
  if (error instanceof DbrokerError) return 1
  return (error as {oclif?: {exit?: number}}).oclif?.exit ?? 1
}

/** A command that talks to a broker: it takes --context, and its client comes from that context. */
export abstract class BrokerCommand extends BaseCommand {
  static override baseFlags = {
    ...BaseCommand.baseFlags,
    context: Flags.string({
      helpGroup: 'GLOBAL',
      description: 'broker context to use [default: DBROKER_CONTEXT, else the current context]',
    }),
  }

  /** The client for the chosen context, with DBROKER_* overrides applied. */
  protected async client(context: string | undefined): Promise<BrokerClient> {
    const {BrokerClient} = await import('../client/broker-client.js')
    return new BrokerClient(resolveTarget(this.contexts(), context))
  }
}
