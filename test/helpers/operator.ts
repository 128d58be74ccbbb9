import {execFile, spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {removeLabelled} from './docker.js'
import {RUN} from './cli.js'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * A `dbroker up --detach` in a temp HOME (so contexts never touch the real
 * user's config), on a port and port range of 42000-42999, and the CLI run
 * as a user would. stop() deprovisions, stops it and removes everything.
 */
export interface OperatorSandbox {
  home: string
  env: NodeJS.ProcessEnv
  dataDir: string
  configDir: string
  url: string
  cli(args: string[], options?: {env?: NodeJS.ProcessEnv; input?: string}): Promise<CliResult>
  sh(script: string): CliResult
  stop(): Promise<void>
}

export async function startSandbox(options: {
  port: number
  portRange: [number, number]
  /** A data dir under HOME other than the user data dir. */ dataDirName?: string
}): Promise<OperatorSandbox> {
  const home = mkdtempSync(path.join(tmpdir(), 'dbroker-e2e-'))
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    NO_COLOR: '1',
  }
  for (const key of [
    'DBROKER_URL',
    'DBROKER_USERNAME',
    'DBROKER_PASSWORD',
    'DBROKER_ADMIN_USERNAME',
    'DBROKER_ADMIN_PASSWORD',
    'DBROKER_CONTEXT',
    'CI',
  ])
    delete env[key]
  const dataDir = options.dataDirName ? path.join(home, options.dataDirName) : path.join(home, 'data', 'dbroker')
  // `dbroker` on PATH, as an installed CLI would be.
  mkdirSync(path.join(home, 'bin'))
  writeFileSync(path.join(home, 'bin', 'dbroker'), `#!/bin/sh\nexec "${process.execPath}" "${RUN}" "$@"\n`)
  chmodSync(path.join(home, 'bin', 'dbroker'), 0o755)
  env.PATH = `${path.join(home, 'bin')}:${env.PATH}`
  const cli = (args: string[], more: {env?: NodeJS.ProcessEnv; input?: string} = {}) =>
    new Promise<CliResult>((resolve) => {
      const child = execFile(
        process.execPath,
        [RUN, ...args],
        {env: {...env, ...more.env}, timeout: 240_000, maxBuffer: 16 * 1024 * 1024},
        (error, stdout, stderr) => {
          resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
        },
      )
      child.stdin?.end(more.input ?? '')
    })
  const sh = (script: string) => {
    const r = spawnSync('bash', ['-c', script], {env, encoding: 'utf8', timeout: 240_000})
    return {code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr}
  }
  const up = await cli([
    'up',
    '--detach',
    '--port',
    String(options.port),
    '--port-range',
    options.portRange.join('-'),
    '--data-dir',
    dataDir,
    '--keepalive',
    '1',
  ])
  const stateFile = path.join(dataDir, 'up.json')
  const stop = async () => {
    let ids: string[] = []
    try {
      ids = JSON.parse((await cli(['instances', '--json', '--no-stats'])).stdout).result.map((i: {id: string}) => i.id)
    } catch {
      // the broker may be gone already
    }
    await cli(['down', '--purge', '--yes', '--data-dir', dataDir, '--timeout', '20'])
    try {
      process.kill(JSON.parse(readFileSync(stateFile, 'utf8')).pid, 'SIGKILL')
    } catch {
      // stopped
    }
    await removeLabelled(ids)
    rmSync(home, {recursive: true, force: true})
  }
  if (up.code !== 0) {
    await stop()
    throw new Error(`up --detach failed (${up.code}):\n${up.stderr}`)
  }
  const url = JSON.parse(readFileSync(stateFile, 'utf8')).url as string
  return {home, env, dataDir, configDir: path.join(home, 'config', 'dbroker'), url, cli, sh, stop}
}
