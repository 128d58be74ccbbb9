import {escapeControls} from './control-chars.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

export interface Logger {
  /** The least severe level written; lets callers skip building lines nobody reads. */
  readonly level?: LogLevel
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

const ORDER: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40, silent: 100}

/**
 * Plain timestamped lines on a stream (stderr by default): results go to stdout, logs never do.
 * A message is one line: its control characters are escaped, so an id with a newline can't forge an entry.
 */
export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const at = ORDER[level]
  const emit = (name: Exclude<LogLevel, 'silent'>) => (message: string) => {
    if (ORDER[name] >= at) write(`${new Date().toISOString()} ${name.padEnd(5)} ${escapeControls(message)}\n`)
  }
  return {level, debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error')}
}

export const silentLogger: Logger = createLogger('silent')
