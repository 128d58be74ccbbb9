// Over 300 lines on purpose: the whole life of an engine the agent manages (start as it ran, watch, restart,
// merge registry settings into daemon.json and SIGHUP), one state machine kept in one place.
import {spawn} from 'node:child_process'
import {closeSync, openSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {DbrokerError, errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import {registryDifferences, type RegistrySettings} from '../core/registries.js'
import type {HostFacts} from '../core/types.js'
import {type Engine, engineFacts} from '../docker/engine.js'
import {mergeDaemonJson, registryFlagsIn} from './daemon-config.js'

/** How the running dockerd was started, read from /proc so it is started again exactly so. */
export interface DockerdCommand {
  argv: string[]
  env: Record<string, string>
  cwd: string
  /** Where its output went, when that was a file: the new one appends to it. */
  logFile?: string
  /** Its daemon.json: `--config-file`, else /etc/docker/daemon.json. */
  configFile: string
}

/** What the agent says of its engine in the host facts: whether registry settings reach it, and why not. */
export interface EngineControl {
  facts(): Pick<HostFacts, 'engineControl'>
}

export const UNMANAGED_ENGINE: EngineControl = {
  facts: () => ({
    engineControl: {
      managed: false,
      registryProblem:
        'the agent does not manage this engine: start it with --manage-engine to apply registry settings',
    },
  }),
}

const DEFAULT_CONFIG = '/etc/docker/daemon.json'
/** A setting dockerd did not take is written again after this, not on every beat. */
const RETRY_FAILED_MS = 30_000

function flagValue(argv: string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) return argv[i + 1]
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1)
  }
  return undefined
}

function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** A zombie or a reused pid has no dockerd command line: only a live dockerd counts. */
function isDockerd(pid: number): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]
    return /(^|\/)dockerd$/.test(argv0)
  } catch {
    return false
  }
}

/** The command line, environment, directory and log file of the dockerd whose pid the pidfile holds. */
export function captureDockerd(pidfile: string): {pid: number; command: DockerdCommand} {
  const pid = readPid(pidfile)
  if (!pid || !isDockerd(pid))
    throw new DbrokerError(
      `--manage-engine needs the running dockerd: ${pidfile} names no live dockerd`,
      'start dockerd first (scripts/docker-engine.sh), or give its pidfile with --engine-pidfile',
    )
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter((e) => e.includes('='))
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  )
  const out = (() => {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/1`)
      return target.startsWith('/') && statSync(target).isFile() ? target : undefined
    } catch {
      return undefined
    }
  })()
  return {
    pid,
    command: {
      argv,
      env,
      cwd: readlinkSync(`/proc/${pid}/cwd`),
      logFile: out,
      configFile: flagValue(argv, '--config-file') ?? DEFAULT_CONFIG,
    },
  }
}

export interface ManagedEngineOptions {
  engine: Engine
  pidfile: string
  log: Logger
  /** How often the agent looks whether dockerd still runs. */
  checkEveryMs: number
  /** How long a started dockerd may take to answer. */
  startTimeoutMs?: number
}

/**
 * The agent as dockerd's keeper, as BOSH's monit is: when the dockerd it
 * found at start is gone, it starts it again with the same command line,
 * environment and daemon.json; and it writes the broker's registry settings
 * into that daemon.json, reloading dockerd with SIGHUP.
 */
export class ManagedEngine implements EngineControl {
  private pid: number
  private readonly command: DockerdCommand
  private readonly stopping = new AbortController()
  private readonly watching: Promise<void>
  private failures = 0
  private restarts = 0
  private lastRestartAt: number | undefined
  /** The settings last written and seen in force; undefined: none written yet. */
  private inForce: string | undefined
  private registryProblem: string | undefined
  private applying: Promise<void> = Promise.resolve()
  /** The settings being written, and the last that failed with when: one write per change, a failed one again after a while. */
  private pending: string | undefined
  private failed: {key: string; at: number} | undefined

  constructor(private readonly options: ManagedEngineOptions) {
    const {pid, command} = captureDockerd(options.pidfile)
    this.pid = pid
    this.command = command
    const flags = registryFlagsIn(command.argv)
    if (flags.length > 0)
      this.registryProblem = `dockerd is started with ${flags.join(', ')}: registry settings on its command line can't also be in ${command.configFile}`
    options.log.info(
      `the agent manages dockerd (pid ${pid}): started again as \`${command.argv.join(' ')}\` if it stops; registry settings go to ${command.configFile}`,
    )
    this.watching = this.watch()
  }

  facts(): Pick<HostFacts, 'engineControl'> {
    return {
      engineControl: {
        managed: true,
        restarts: this.restarts,
        ...(this.lastRestartAt ? {lastRestartAt: this.lastRestartAt} : {}),
        ...(this.registryProblem ? {registryProblem: this.registryProblem} : {}),
      },
    }
  }

  private async watch(): Promise<void> {
    const {signal} = this.stopping
    while (!signal.aborted) {
      await sleep(this.options.checkEveryMs, undefined, {signal}).catch(() => undefined)
      if (signal.aborted || isDockerd(this.pid)) continue
      // Another keeper (an operator, a script) may have started it meanwhile: adopt that one.
      const now = readPid(this.options.pidfile)
      if (now && now !== this.pid && isDockerd(now)) {
        this.options.log.info(`dockerd runs again (pid ${now}), started by someone else`)
        this.pid = now
        continue
      }
      await this.restart().catch(async (error: unknown) => {
        this.failures++
        const waitMs = Math.min(30_000, 1000 * 2 ** Math.min(this.failures - 1, 5))
        this.options.log.warn(
          `dockerd did not start again: ${errorMessage(error)}; trying again in ${Math.round(waitMs / 1000)} s`,
        )
        await sleep(waitMs, undefined, {signal}).catch(() => undefined)
      })
    }
  }

  private async restart(): Promise<void> {
    const [program, ...args] = this.command.argv
    this.options.log.warn(`the Docker engine is down: dockerd (pid ${this.pid}) is gone; starting it again`)
    await this.containerdGone()
    const out = this.command.logFile ? openSync(this.command.logFile, 'a') : 'ignore'
    const child = spawn(program, args, {
      cwd: this.command.cwd,
      env: this.command.env,
      stdio: ['ignore', out, out],
      detached: true,
    })
    if (typeof out === 'number') closeSync(out)
    const exited = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(error.message))
      child.once('exit', (code, signal) => resolve(`it exited (${signal ?? `code ${code}`})`))
    })
    child.unref()
    if (child.pid) this.pid = child.pid
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 60_000)
    while (Date.now() < deadline) {
      const ended = await Promise.race([exited, sleep(250).then(() => undefined)])
      if (ended)
        throw new DbrokerError(`${program} ${ended}${this.command.logFile ? `; see ${this.command.logFile}` : ''}`)
      if (
        await this.options.engine.ping().then(
          () => true,
          () => false,
        )
      ) {
        this.failures = 0
        this.restarts++
        this.lastRestartAt = Date.now()
        // Settings written while it was down are what it read at start; look at them again.
        this.inForce = undefined
        this.options.log.info(`dockerd runs again (pid ${this.pid})`)
        return
      }
    }
    throw new DbrokerError(
      `dockerd (pid ${this.pid}) does not answer ${Math.round((this.options.startTimeoutMs ?? 60_000) / 1000)} s after its start`,
    )
  }

  /**
   * The containerd the dead dockerd started shuts down on its own, but not at once; a dockerd started meanwhile
   * adopts it (its pidfile names a live process) and then waits in vain for its socket. So: until it is gone, 15 s at most.
   */
  private async containerdGone(): Promise<void> {
    const execRoot = flagValue(this.command.argv, '--exec-root') ?? '/var/run/docker'
    const pid = readPid(path.join(execRoot, 'containerd', 'containerd.pid'))
    if (!pid) return
    const running = () => {
      try {
        return /(^|\/)containerd$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0])
      } catch {
        return false
      }
    }
    const deadline = Date.now() + 15_000
    while (running() && Date.now() < deadline) await sleep(100)
  }

  /** Writes the settings into daemon.json (keeping the rest) and reloads dockerd, once per change; one call at a time. */
  applyRegistry(desired: RegistrySettings | null | undefined): Promise<void> {
    if (!desired) return this.applying
    const key = JSON.stringify(desired)
    if (key === this.inForce || key === this.pending) return this.applying
    if (this.failed?.key === key && Date.now() - this.failed.at < RETRY_FAILED_MS) return this.applying
    this.pending = key
    this.applying = this.applying
      .then(() => this.writeRegistry(desired, key))
      .finally(() => {
        this.pending = undefined
      })
    return this.applying
  }

  private async writeRegistry(desired: RegistrySettings, key: string): Promise<void> {
    if (key === this.inForce || registryFlagsIn(this.command.argv).length > 0) return
    const file = this.command.configFile
    try {
      let before = ''
      try {
        before = readFileSync(file, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
      const after = mergeDaemonJson(before, desired, file)
      if (after !== before) {
        const temp = `${file}.dbroker.tmp`
        writeFileSync(temp, after, {mode: before ? statSync(file).mode & 0o777 : 0o644})
        renameSync(temp, file)
        process.kill(this.pid, 'SIGHUP')
        this.options.log.info(
          `registry settings written to ${file} (mirrors: ${desired.mirrors.join(', ') || 'none'}; insecure: ${desired.insecure.join(', ') || 'none'}); dockerd reloads them`,
        )
      }
      // The reload is asynchronous: in force once `docker info` says so.
      const deadline = Date.now() + 10_000
      let differences: string[] = []
      do {
        differences = registryDifferences(desired, await engineFacts(this.options.engine))
        if (differences.length === 0) break
        await sleep(200)
      } while (Date.now() < deadline)
      if (differences.length > 0)
        throw new DbrokerError(`dockerd still has other settings after SIGHUP (${differences.join(', ')}; see its log)`)
      this.inForce = key
      this.failed = undefined
      this.registryProblem = undefined
    } catch (error) {
      this.failed = {key, at: Date.now()}
      this.registryProblem = `cannot apply the registry settings: ${errorMessage(error)}`
      this.options.log.warn(this.registryProblem)
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort()
    await this.watching
    await this.applying
  }
}
