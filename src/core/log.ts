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

/** Plain timestamped lines on a stream (stderr by default): results go to stdout, logs never do. */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const at = ORDER[level]
  const emit = (name: Exclude<LogLevel, 'silent'>) => (message: string) => {
    if (ORDER[name] >= at) write(`${new Date().toISOString()} ${name.padEnd(5)} ${message}\n`)
  }
  return {level, debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error')}
}

export const silentLogger: Logger = createLogger('silent')
