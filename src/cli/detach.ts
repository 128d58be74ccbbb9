import {spawn} from 'node:child_process'
import {closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {DbrokerError, LocalLinesError} from '../core/errors.js'

/** What a running `dbroker up` leaves in its data dir so `--detach` and `down` can find it. */
export interface UpState {
  pid: number
  url: string
  context: string
  startedAt: number
}

const STATE = 'up.json'
const LOG = 'up.log'
/** Set for the background `up`: its output goes to up.log, so it prints no password. */
export const DETACHED_ENV = 'DBROKER_UP_DETACHED'

export const upLogFile = (dataDir: string) => path.join(dataDir, LOG)

export function writeUpState(dataDir: string, state: UpState): void {
  writeFileSync(path.join(dataDir, STATE), JSON.stringify(state) + '\n', {mode: 0o600})
}

/** Removes the state file only if it is still this process's. */
export function clearUpState(dataDir: string, pid = process.pid): void {
  if (readUpState(dataDir)?.pid === pid) rmSync(path.join(dataDir, STATE), {force: true})
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The state of a live `up` on this data dir; a stale file (its process gone) reads as none. */
export function readUpState(dataDir: string): UpState | undefined {
  const file = path.join(dataDir, STATE)
  if (!existsSync(file)) return undefined
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as UpState
    return isRunning(state.pid) ? state : undefined
  } catch {
    return undefined
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(new URL('/healthz', url), {signal: AbortSignal.timeout(2000)})).ok
  } catch {
    return false
  }
}

function logTail(dataDir: string, lines = 15): string {
  try {
    return readFileSync(upLogFile(dataDir), 'utf8').trim().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/**
 * Starts `dbroker up` with these arguments in the background (its output in
 * up.log of the data dir) and resolves once it answers /healthz.
 */
export async function startDetached(options: {
  bin: string
  args: string[]
  /** Passed through the environment, never the command line (`ps` shows that to every user). */
  env?: Record<string, string | undefined>
  dataDir: string
  timeoutMs: number
  progress: (line: string) => void
}): Promise<UpState> {
  const out = openSync(upLogFile(options.dataDir), 'a', 0o600)
  const child = spawn(process.execPath, [options.bin, 'up', ...options.args], {
    detached: true,
    stdio: ['ignore', out, out],
    env: {...process.env, ...options.env, [DETACHED_ENV]: '1'},
  })
  closeSync(out)
  let exited: number | null | undefined
  child.on('exit', (code) => (exited = code))
  child.unref()
  options.progress(`started dbroker up in the background (pid ${child.pid}); waiting until it is healthy`)
  const deadline = Date.now() + options.timeoutMs
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const tail = logTail(options.dataDir)
      throw new LocalLinesError(
        `dbroker up exited with code ${exited} before it was healthy${tail ? `:\n${tail}` : ''}`,
        `see ${upLogFile(options.dataDir)}`,
      )
    }
    const state = readUpState(options.dataDir)
    if (state && state.pid === child.pid && (await healthy(state.url))) return state
    await sleep(200)
  }
  child.kill('SIGTERM')
  throw new DbrokerError(
    `dbroker up was not healthy after ${Math.round(options.timeoutMs / 1000)} s; stopped it`,
    `see ${upLogFile(options.dataDir)}`,
  )
}

/** SIGTERM, then wait for the process to end (SIGKILL after the timeout). */
export async function stopProcess(pid: number, timeoutMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return 'stopped'
  }
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return 'stopped'
    await sleep(100)
  }
  process.kill(pid, 'SIGKILL')
  return 'killed'
}

const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)

/**
 * The `dbroker up --detach` that starts this broker again as it was (data dir, port, catalog, port range, context,
 * address), for the hint of a command that finds it stopped; a plain `dbroker up --detach` would start another one.
 */
export function upCommandLine(options: {
  dataDir: string
  url: string
  catalog?: string
  portRange: string
  context: string
  bind: string
}): string {
  const words = ['dbroker', 'up', '--detach', '--data-dir', options.dataDir, '--port', new URL(options.url).port]
  if (options.catalog) words.push('--catalog', options.catalog)
  if (options.portRange !== '40000-40999') words.push('--port-range', options.portRange)
  if (options.context !== 'local') words.push('--context', options.context)
  if (options.bind !== '127.0.0.1') words.push('--bind', options.bind)
  return words.map(shellWord).join(' ')
}
