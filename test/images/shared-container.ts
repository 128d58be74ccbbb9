import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {expect} from 'vitest'

import {until} from '../helpers/until.js'

/** What a lifecycle executable did: its exit status and both streams. */
export interface HookRun {
  status: number | null
  stdout: string
  stderr: string
}

/** A reference image's container on a fixed host port, for image-level stories; `remove` takes it and its volumes. */
export interface TestContainer {
  name: string
  port: number
  /** Runs a lifecycle executable with `docker exec -i`, `input` on stdin (an object is sent as JSON). */
  hook(command: string[], input?: string | Record<string, unknown>, env?: Record<string, string>): HookRun
  /** Like hook, but throws with its stderr unless it exits 0; its stdout. */
  ok(command: string[], input?: string | Record<string, unknown>, env?: Record<string, string>): string
  /** A command in the container (no stdin); its stdout. */
  exec(...command: string[]): string
  remove(): void
}

/** Starts `image` (secrets from `secretEnv` reach docker through its env, never its argv) and waits until `ready` passes. */
export async function startContainer(options: {
  name: string
  image: string
  port: number
  containerPort: number
  env: Record<string, string>
  secretEnv: Record<string, string>
  ready: (c: TestContainer) => boolean
  /** More `docker run` options (e.g. a memory limit). */
  runArgs?: string[]
}): Promise<TestContainer> {
  const {name, image, port, containerPort} = options
  const envArgs = [
    ...Object.entries(options.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...Object.keys(options.secretEnv).flatMap((k) => ['-e', k]),
  ]
  const container: TestContainer = {
    name,
    port,
    hook(command, input, env = {}) {
      const envFlags = Object.keys(env).flatMap((k) => ['-e', k])
      const run = spawnSync('docker', ['exec', '-i', ...envFlags, name, ...command], {
        input: typeof input === 'string' ? input : JSON.stringify(input ?? {}),
        encoding: 'utf8',
        env: {...process.env, ...env},
        timeout: 30_000,
      })
      return {status: run.status, stdout: run.stdout, stderr: run.stderr}
    },
    ok(command, input, env) {
      const run = container.hook(command, input, env)
      if (run.status !== 0) throw new Error(`${command.join(' ')} exited ${run.status}: ${run.stderr}`)
      return run.stdout
    },
    exec: (...command) =>
      execFileSync('docker', ['exec', name, ...command], {encoding: 'utf8', stdio: 'pipe', timeout: 30_000}).trim(),
    remove: () => {
      spawnSync('docker', ['rm', '-f', '-v', name], {stdio: 'ignore'})
    },
  }
  execFileSync(
    'docker',
    [
      'run',
      '-d',
      '--name',
      name,
      '-p',
      `127.0.0.1:${port}:${containerPort}`,
      ...(options.runArgs ?? []),
      ...envArgs,
      image,
    ],
    {
      stdio: 'pipe',
      env: {...process.env, ...options.secretEnv},
    },
  )
  try {
    await until(`${name} to be ready`, () => options.ready(container), {timeoutMs: 90_000, everyMs: 200})
  } catch (error) {
    container.remove()
    throw error
  }
  return container
}

/**
 * Every execve inside the container while `act` runs, with its full argv, from strace attached to the container's
 * shim (the parent of its PID 1, which forks each `docker exec`): no process is missed, however short it lives.
 */
export async function execvesDuring(container: TestContainer, act: () => void): Promise<string> {
  const pid = execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', container.name], {encoding: 'utf8'}).trim()
  const shim = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]
  const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-execve-'))
  const log = path.join(dir, 'strace.log')
  const strace = spawn('strace', ['-f', '-qq', '-s', '65536', '-e', 'trace=execve', '-o', log, '-p', shim], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => strace.on('exit', () => resolve()))
  try {
    await until('strace to attach', () => strace.exitCode === null && readable(log) !== undefined, 10_000)
    // strace is attached once it wrote its log file; an execve proves it follows children.
    await until('strace to trace an exec', () => {
      container.exec('true')
      return readable(log)?.includes('execve(')
    })
    act()
    return readFileSync(log, 'utf8')
  } finally {
    strace.kill('SIGINT')
    await exited
    rmSync(dir, {recursive: true, force: true})
  }
}

const readable = (file: string) => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The lifecycle executables of the JSON form, as the broker runs them. */
export const JSON_FORM = [
  ['/dbroker/provision'],
  ['/dbroker/deprovision'],
  ['/dbroker/bind', '--json'],
  ['/dbroker/unbind', '--json'],
]

/** A document an executable must refuse: the reason its stderr gives, and (when not all) which executables read it. */
export interface BadDocument {
  what: string
  input: string | Record<string, unknown>
  reason: RegExp
  only?: string[]
}

/** What every image refuses alike: not a JSON object, a field of the wrong type or with a control character, too big. */
export const badDocuments = (instanceId: string): BadDocument[] => [
  {what: 'not JSON', input: 'instance_id=A', reason: /not a JSON object/},
  {what: 'a JSON array', input: '[]', reason: /not a JSON object/},
  {
    what: 'a number for a string field',
    input: {instance_id: 5, binding_id: 'x'},
    reason: /"instance_id" .* must be a string/,
  },
  {
    what: 'an object for a string field',
    input: {instance_id: instanceId, binding_id: {}},
    reason: /"binding_id" .* must be a string/,
  },
  {
    what: 'a string for context',
    input: {instance_id: instanceId, binding_id: 'x', context: 'c'},
    reason: /"context" .* must be an object/,
  },
  {
    what: 'a line break in a field',
    input: {instance_id: instanceId, binding_id: 'x', password: 'a\nb'},
    reason: /"password" .* control characters/,
  },
  {
    what: 'more than 64 KiB',
    input: JSON.stringify({instance_id: instanceId, binding_id: 'x', pad: 'p'.repeat(70_000)}),
    reason: /larger than 64 KiB/,
  },
]

/** Every JSON-form executable given each bad document exits 1 with nothing on stdout and one line on stderr naming why. */
export function expectEachRefused(c: TestContainer, image: string, bad: BadDocument[]): void {
  for (const command of JSON_FORM)
    for (const {what, input, reason, only} of bad) {
      if (only && !only.includes(command[0])) continue
      const run = c.hook(command, input)
      const seen = {what, command: command.join(' '), status: run.status, stdout: run.stdout}
      expect(seen).toEqual({...seen, status: 1, stdout: ''})
      expect(run.stderr).toMatch(new RegExp(`^dbroker-${image} [a-z]+: [^\\n]+\\n$`))
      expect(run.stderr).toMatch(reason)
    }
}

/** Binds in both forms with a known password while strace watches: it is on no argv, and the trace did see `client` run. */
export async function expectNoPasswordOnArgv(c: TestContainer, instanceId: string, client: RegExp): Promise<void> {
  const password = `argv-check-${randomBytes(12).toString('hex')}`
  const traced = await execvesDuring(c, () => {
    c.ok(['/dbroker/bind', '--json'], {instance_id: instanceId, binding_id: 'argv', password})
    c.ok(['/dbroker/bind'], undefined, {BIND_USERNAME: 'bargvcheck000', BIND_PASSWORD: password})
  })
  expect(traced).toMatch(/execve\("\/dbroker\/bind", \["\/dbroker\/bind", "--json"\]/)
  expect(traced).toMatch(client)
  expect(traced).not.toContain(password)
  c.ok(['/dbroker/unbind', '--json'], {binding_id: 'argv'})
  c.ok(['/dbroker/unbind'], undefined, {BIND_USERNAME: 'bargvcheck000'})
}
