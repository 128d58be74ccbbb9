import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {DbrokerError} from '../../core/errors.js'
import {readUpState, startDetached, type UpState} from '../detach.js'
import type {Progress} from './broker.js'

export interface DetachedUpOptions {
  /** The package root, where bin/run.js is. */
  root: string
  /** This `up`'s own arguments; --detach, --json and the secrets are taken out. */
  argv: string[]
  dataDir: string
  timeoutMs: number
  /** Passed through the environment, never the command line. */
  secrets: Record<string, string | undefined>
  progress: Progress
  /** The --port asked for, when given: a running `up` on another port is an error, not a silent reuse. */
  requestedPort?: number
}

/** The `up` running for the data dir, or a new one started in the background once it is healthy and its context written. */
export async function detachedUp(options: DetachedUpOptions): Promise<UpState> {
  mkdirSync(options.dataDir, {recursive: true, mode: 0o700})
  const running = readUpState(options.dataDir)
  if (running) {
    const port = Number(new URL(running.url).port)
    if (options.requestedPort !== undefined && options.requestedPort !== 0 && options.requestedPort !== port) {
      throw new DbrokerError(
        `dbroker up is already running for ${options.dataDir} at ${running.url} (pid ${running.pid}), not on port ${options.requestedPort}`,
        `stop it with \`dbroker down --data-dir ${options.dataDir}\` first, or start another one with its own --data-dir`,
      )
    }
    options.progress(`dbroker up is already running for ${options.dataDir} (pid ${running.pid})`)
    return running
  }
  const args = withoutFlags(
    options.argv,
    ['--detach', '-d', '--json'],
    ['--detach-timeout', '--data-dir', '--password', '--admin-password'],
  )
  return startDetached({
    bin: path.join(options.root, 'bin', 'run.js'),
    args: [...args, '--data-dir', options.dataDir],
    env: Object.fromEntries(Object.entries(options.secrets).filter(([, v]) => v !== undefined)),
    dataDir: options.dataDir,
    timeoutMs: options.timeoutMs,
    progress: options.progress,
  })
}

/** argv without the given boolean flags and valued flags (`--f v` and `--f=v`). */
export function withoutFlags(argv: string[], booleans: string[], valued: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (booleans.includes(arg) || valued.some((f) => arg.startsWith(`${f}=`))) continue
    if (valued.includes(arg)) {
      i++
      continue
    }
    out.push(arg)
  }
  return out
}
