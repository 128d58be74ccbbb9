import {execFileSync, spawn} from 'node:child_process'
import {mkdirSync, openSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'

import {until} from './until.js'

/** A port nothing listens on right now, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

export interface TestRegistry {
  /** host:port, as image references and `registry login` name it. */
  address: string
  url: string
  /** What the registry logged so far (its access log included). */
  log(): string
  stop(): Promise<void>
}

/**
 * Debian's docker-registry (distribution 2.8) on 127.0.0.1 with its own config and storage under dir;
 * with `login`, htpasswd auth (bcrypt, made by apache2-utils' htpasswd from stdin, never argv).
 */
export async function startRegistry(
  dir: string,
  options: {login?: {username: string; password: string}} = {},
): Promise<TestRegistry> {
  mkdirSync(path.join(dir, 'storage'), {recursive: true})
  const port = await freePort()
  const auth = options.login
    ? (() => {
        const file = path.join(dir, 'htpasswd')
        const line = execFileSync('htpasswd', ['-niB', options.login.username], {
          input: options.login.password,
          encoding: 'utf8',
        })
        writeFileSync(file, line.trim() + '\n', {mode: 0o600})
        return `auth:\n  htpasswd:\n    realm: dbroker-test\n    path: ${file}\n`
      })()
    : ''
  const config = path.join(dir, 'config.yml')
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  )
  const logFile = path.join(dir, 'registry.log')
  const out = openSync(logFile, 'a')
  const child = spawn('docker-registry', ['serve', config], {stdio: ['ignore', out, out]})
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const log = () => readFileSync(logFile, 'utf8')
  await until(
    `the registry on ${url}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`)
      const response = await fetch(`${url}/v2/`)
      return response.status === 200 || response.status === 401
    },
    20_000,
  )
  return {
    address: `127.0.0.1:${port}`,
    url,
    log,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * Puts a local image into a registry as `target` through the shared engine, which trusts 127.0.0.0/8 without TLS;
 * the login (if any) goes to a docker config of the test's own, by stdin; the extra tag is removed again.
 */
export function pushImage(
  image: string,
  target: string,
  dockerConfig: string,
  login?: {registry: string; username: string; password: string},
): void {
  const docker = (args: string[], input?: string) =>
    execFileSync('docker', ['--config', dockerConfig, ...args], {input, stdio: ['pipe', 'ignore', 'pipe']})
  if (login) docker(['login', login.registry, '--username', login.username, '--password-stdin'], login.password)
  docker(['tag', image, target])
  try {
    docker(['push', target])
  } finally {
    docker(['rmi', target])
  }
}
