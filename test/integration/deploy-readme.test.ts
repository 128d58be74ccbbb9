import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {docker} from '../helpers/docker.js'
import {startTestSystem, TEST_RUN, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const README = path.resolve(import.meta.dirname, '../../README.md')
const NAME = `r${TEST_RUN}${Math.random().toString(16).slice(2, 6)}`
const FIXED_PORT = 46488

/**
 * The README's manifest example, as an operator copies it: only what names this machine changes — the host
 * (`local` under `up`), the deployment's name, the fixed port and the host directory of the bind volume.
 */
function readmeManifest(staticDir: string): string {
  const text = readFileSync(README, 'utf8')
  const block = /```yaml\n(name: shop\n[\s\S]*?)```/.exec(text)?.[1]
  if (!block) throw new Error('README.md has no manifest example (```yaml starting with name: shop)')
  return block
    .replace('name: shop', `name: ${NAME}`)
    .replace('- name: h1', '- name: local')
    .replace('127.0.0.1:6379:6379', `127.0.0.1:${FIXED_PORT}:6379`)
    .replace('/srv/shop/static', staticDir)
}

interface DeployResult {
  containers: Array<{container: string; state: string; error?: string}>
}

describe("the README's manifest example, deployed as written", () => {
  let t: TestSystem
  let dir: string
  const call = async (method: string, route: string, body?: unknown) => {
    const {username, password} = t.system.adminCredentials
    const response = await fetch(new URL(route, t.system.url), {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
        ...(body ? {'content-type': 'application/json'} : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    })
    return {status: response.status, body: (await response.json()) as DeployResult & {description?: string}}
  }
  const deploy = (name: string, manifest: string) =>
    call('PUT', `/admin/v1/deployments/${name}`, {file: 'deployment.yml', manifest})
  const exec = (container: string, command: string[]) =>
    execFileSync('docker', ['exec', container, ...command], {encoding: 'utf8', timeout: 10_000}).trim()

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-readme-'))
    mkdirSync(path.join(dir, 'static'))
    t = await startTestSystem({portRange: [46490, 46499], dataDir: path.join(dir, 'data')})
  })
  afterAll(async () => {
    for (const name of [NAME, `${NAME}-exits`, `${NAME}-alone`])
      await call('DELETE', `/admin/v1/deployments/${name}`).catch(() => undefined)
    await t?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('every container runs, and each reaches the one it depends on by its manifest name', async () => {
    const deployed = await deploy(NAME, readmeManifest(path.join(dir, 'static')))
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(200)
    expect(deployed.body.containers.map((c) => [c.container, c.state]).sort()).toEqual([
      ['app', 'ready'],
      ['redis', 'ready'],
      ['web', 'ready'],
    ])
    for (const container of ['redis', 'app', 'web'])
      expect((await docker.getContainer(`dbroker.${NAME}.${container}`).inspect()).State.Running).toBe(true)
    // app's own loop (redis-cli -h redis PING every 5 s) keeps it running only while redis answers by name.
    expect(exec(`dbroker.${NAME}.app`, ['redis-cli', '-h', 'redis', 'PING'])).toBe('PONG')
    expect(exec(`dbroker.${NAME}.web`, ['getent', 'hosts', 'app'])).toMatch(/\sapp$/)
    expect(exec(`dbroker.${NAME}.app`, ['redis-cli', '-h', 'web', '-p', '8080', 'PING'])).toBe('PONG')
    // From the host, through the fixed port.
    expect(execFileSync('redis-cli', ['-p', String(FIXED_PORT), 'PING'], {encoding: 'utf8'}).trim()).toBe('PONG')
  })

  it('a container that exits at once is not ready: the deploy says failed with its exit code, and its dependent is not started', async () => {
    const manifest = [
      `name: ${NAME}-exits`,
      'hosts:',
      '  - name: local',
      '    containers:',
      '      - name: broken',
      '        image: dbroker/redis:7',
      "        command: [sh, -c, 'exit 3']",
      '      - name: after',
      '        image: dbroker/redis:7',
      "        command: [sh, -c, 'sleep 600']",
      '        depends_on: [broken]',
      '      - name: once',
      '        image: dbroker/redis:7',
      "        command: [sh, -c, 'echo done']",
      '        restart: "no"',
    ].join('\n')
    const deployed = await deploy(`${NAME}-exits`, manifest)
    const state = (name: string) => deployed.body.containers.find((c) => c.container === name)
    expect(state('broken')).toMatchObject({state: 'failed'})
    expect(state('broken')?.error).toMatch(/code 3/)
    expect(state('after')).toMatchObject({state: 'failed', error: 'a container it depends on did not start'})
    // A one-shot container (restart: no) is ready once it ended with code 0, and convergence leaves it ended.
    expect(state('once')).toMatchObject({state: 'ready'})
    const once = await until('the one-shot ended', async () => {
      const info = await docker.getContainer(`dbroker.${NAME}-exits.once`).inspect()
      return !info.State.Running && info
    })
    expect(once.State.ExitCode).toBe(0)
  })

  it('deleting a deployment whose only container failed leaves no network behind', async () => {
    const name = `${NAME}-alone`
    const manifest = ['name: ' + name, 'hosts:', '  - name: local', '    containers:', '      - name: bad']
      .concat(['        image: dbroker/redis:7', '        entrypoint: sh', '        command: [-c, "exit 3"]'])
      .join('\n')
    const deployed = await deploy(name, manifest)
    expect(deployed.body.containers).toMatchObject([{container: 'bad', state: 'failed'}])
    const networks = async () =>
      (await docker.listNetworks({filters: {name: [`.${name}`]}})).filter((n) => n.Name.endsWith(`.${name}`))
    expect(await networks()).toHaveLength(1)
    expect((await call('DELETE', `/admin/v1/deployments/${name}`)).status).toBe(200)
    expect(await networks()).toEqual([])
  })
})
