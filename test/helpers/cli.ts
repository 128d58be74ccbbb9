import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

export const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')

export interface UpProcess {
  child: ChildProcess
  url: string
  username: string
  password: string
  stderr: () => string
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>
}

/**
 * Starts the built `dbroker up --json` as a user would, and waits for its ready
 * line. Its CLI contexts go to a temp config dir, never the real user's.
 */
export async function startUp(args: string[], env: NodeJS.ProcessEnv = {}): Promise<UpProcess> {
  const config = mkdtempSync(path.join(tmpdir(), 'dbroker-config-'))
  const child = spawn(process.execPath, [RUN, 'up', '--json', '--port', '0', ...args], {
    env: {...process.env, XDG_CONFIG_HOME: config, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (chunk) => (err += chunk))
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      rmSync(config, {recursive: true, force: true})
      resolve(code)
    }),
  )
  const lines = createInterface({input: child.stdout!})
  const ready = await new Promise<{url: string; username: string; password: string}>((resolve, reject) => {
    lines.once('line', (line) => {
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`up printed ${line}`))
      }
    })
    void exited.then((code) => reject(new Error(`up exited with ${code} before it was ready:\n${err}`)))
  })
  return {
    child,
    ...ready,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}
