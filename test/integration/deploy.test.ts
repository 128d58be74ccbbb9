import {execFile, execFileSync, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RUN} from '../helpers/cli.js'
import {docker, labelled, removeLabelled} from '../helpers/docker.js'
import {startTestSystem, TEST_RUN, type TestSystem} from '../helpers/system.js'

// Engine names are `dbroker.<deployment>.<container>`: this run's own name keeps another run's containers apart.
const NAME = `d${TEST_RUN}${randomBytes(2).toString('hex')}`
const CONTAINERS = ['db', 'cache', 'app']
const key = (container: string) => `deploy:${NAME}:local:${container}`

/** Three redis servers, app -> cache -> db; `extra` goes under db (a change), `without` drops a container (a shrink). */
function manifest(options: {dbExtra?: string; without?: string} = {}): string {
  const redis = (name: string, port: number, dependsOn?: string, extra = '') =>
    [
      `      - name: ${name}`,
      '        image: dbroker/redis:7',
      '        entrypoint: redis-server',
      `        command: "--port ${port} --protected-mode no --save ''"`,
      `        ports: ["${port}"]`,
      '        readiness: {probe: tcp, send: "PING\\r\\n", expect: PONG, timeout: 30s}',
      ...(dependsOn ? [`        depends_on: [${dependsOn}]`] : []),
      ...(extra ? [extra] : []),
    ].join('\n')
  const all = [redis('db', 6379, undefined, options.dbExtra), redis('cache', 6380, 'db'), redis('app', 6381, 'cache')]
  const kept = all.filter((_, i) => CONTAINERS[i] !== options.without)
  return `name: ${NAME}\nhosts:\n  - name: local\n    containers:\n${kept.join('\n')}\n`
}

interface Envelope {
  status: number
  result?: any
  error?: {message: string}
}

describe('dbroker deploy against a real engine: create, change, shrink, delete', () => {
  let t: TestSystem
  let dir: string
  const files = {v1: '', v2: '', v3: '', cycle: '', unknownHost: ''}

  // Not spawnSync: the broker answering the CLI runs in this process, and must keep running meanwhile.
  const cli = (args: string[]) =>
    new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
      const child = execFile(
        process.execPath,
        [RUN, ...args],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            XDG_CONFIG_HOME: dir,
            DBROKER_URL: t.system.url,
            DBROKER_USERNAME: t.system.credentials.username,
            DBROKER_PASSWORD: t.system.credentials.password,
            DBROKER_ADMIN_USERNAME: t.system.adminCredentials.username,
            DBROKER_ADMIN_PASSWORD: t.system.adminCredentials.password,
          },
        },
        (_error, stdout, stderr) => resolve({code: child.exitCode, stdout, stderr}),
      )
    })
  const json = async (args: string[]): Promise<Envelope> => JSON.parse((await cli([...args, '--json'])).stdout)
  /** Each container's engine id and start time, by manifest name. */
  const engineState = async () => {
    const out: Record<string, {id: string; startedAt: number; running: boolean}> = {}
    for (const name of CONTAINERS) {
      const [c] = (await labelled(key(name), t.system.installationId)).containers
      if (!c) continue
      const info = await docker.getContainer(c.Id).inspect()
      out[name] = {id: c.Id, startedAt: Date.parse(info.State.StartedAt), running: info.State.Running}
    }
    return out
  }
  const ping = (port: number) =>
    execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], {encoding: 'utf8'}).trim()
  const hostPort = async (container: string) =>
    (await t.system.store.deployments.container(key(container)))!.spec.ports[0].host

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-deploy-'))
    t = await startTestSystem({portRange: [46200, 46299]})
    files.v1 = path.join(dir, 'v1.yml')
    files.v2 = path.join(dir, 'v2.yml')
    files.v3 = path.join(dir, 'v3.yml')
    files.cycle = path.join(dir, 'cycle.yml')
    files.unknownHost = path.join(dir, 'unknown-host.yml')
    writeFileSync(files.v1, manifest())
    writeFileSync(files.v2, manifest({dbExtra: '        memory: 128m'}))
    writeFileSync(files.v3, manifest({dbExtra: '        memory: 128m', without: 'app'}))
    writeFileSync(files.cycle, manifest({dbExtra: '        depends_on: [app]'}))
    writeFileSync(files.unknownHost, manifest().replace('- name: local', '- name: nowhere'))
  })
  afterAll(async () => {
    await removeLabelled(CONTAINERS.map(key), t?.system.installationId)
    await t?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('a bad manifest is refused through the CLI with file, path and line, and nothing is stored', async () => {
    const cycle = await cli(['deploy', files.cycle])
    expect(cycle.code).toBe(1)
    expect(cycle.stderr).toMatch(
      new RegExp(`Error: ${files.cycle}: line \\d+: hosts\\[0\\]\\.containers\\[\\d\\]\\.depends_on: dependency cycle`),
    )
    const unknown = await json(['deploy', files.unknownHost])
    expect(unknown.status).toBe(1)
    expect(unknown.error!.message).toBe(
      `${files.unknownHost}: line 3: hosts[0].name: no host "nowhere" is registered (see dbroker hosts)`,
    )
    expect(await t.system.store.deployments.list()).toEqual([])
  })

  it('first deploy: the dry run changes nothing, then all three start, each after what it depends on', async () => {
    const dry = await json(['deploy', files.v1, '--dry-run'])
    expect(dry.status).toBe(0)
    expect(dry.result.diff.summary).toMatchObject({create: 3})
    expect(await t.system.store.deployments.list()).toEqual([])
    expect(await engineState()).toEqual({})

    const done = await json(['deploy', files.v1])
    expect(done.status, done.error?.message).toBe(0)
    expect(done.result.diff).toEqual(dry.result.diff)
    expect(done.result.containers.map((c: {state: string}) => c.state)).toEqual(['ready', 'ready', 'ready'])
    const state = await engineState()
    expect(Object.values(state).every((c) => c.running)).toBe(true)
    expect(state.db.startedAt).toBeLessThan(state.cache.startedAt)
    expect(state.cache.startedAt).toBeLessThan(state.app.startedAt)
    for (const name of CONTAINERS) expect(ping(await hostPort(name))).toBe('PONG')

    const listed = await json(['instances', '--no-stats'])
    expect(
      listed.result.filter((i: {service: string}) => i.service === 'deploy').map((i: {name: string}) => i.name),
    ).toEqual(CONTAINERS)
  })

  it('a change recreates db and restarts cache, then app, after it; the dry run said so', async () => {
    const before = await engineState()
    const dry = await json(['deploy', files.v2, '--dry-run'])
    expect(dry.result.lines).toEqual([
      `local  ~ db (memory changed: none -> 128M)`,
      `local  ↻ cache (restarts after db)`,
      `local  ↻ app (restarts after db)`,
      `${NAME}: 1 to recreate, 2 to restart`,
    ])
    expect(await engineState()).toEqual(before)

    const done = await json(['deploy', files.v2])
    expect(done.status, done.error?.message).toBe(0)
    expect(done.result.diff).toEqual(dry.result.diff)
    const after = await engineState()
    expect(after.db.id).not.toBe(before.db.id)
    expect(after.cache.id).toBe(before.cache.id)
    expect(after.app.id).toBe(before.app.id)
    expect(after.cache.startedAt).toBeGreaterThan(after.db.startedAt)
    expect(after.app.startedAt).toBeGreaterThan(after.cache.startedAt)
    const db = await docker.getContainer(after.db.id).inspect()
    expect(db.HostConfig.Memory).toBe(128 * 1024 ** 2)
    expect(ping(await hostPort('db'))).toBe('PONG')
  })

  it('a shrink removes app (container, port, row) and leaves db and cache as they were', async () => {
    const before = await engineState()
    const appPort = await hostPort('app')
    const dry = await json(['deploy', files.v3, '--dry-run'])
    expect(dry.result.diff.summary).toMatchObject({remove: 1, unchanged: 2, recreate: 0, restart: 0})
    const done = await json(['deploy', files.v3])
    expect(done.status, done.error?.message).toBe(0)
    expect(done.result.diff).toEqual(dry.result.diff)
    const after = await engineState()
    expect(after.app).toBeUndefined()
    expect(after.db).toEqual(before.db)
    expect(after.cache).toEqual(before.cache)
    expect(await t.system.store.deployments.container(key('app'))).toBeUndefined()
    expect(await t.system.store.portsOf(key('app'))).toEqual([])
    expect(spawnSync('redis-cli', ['-p', String(appPort), 'ping']).status).not.toBe(0)
    const status = await json(['deploy', 'status', NAME])
    expect(status.result[0]).toMatchObject({name: NAME, version: 3})
  })

  it('delete asks first, then with --yes removes every container, volume and port', async () => {
    const asked = await cli(['deploy', 'delete', NAME])
    expect(asked.code).toBe(2)
    expect(asked.stderr).toContain('pass --yes')
    const done = await json(['deploy', 'delete', NAME, '--yes'])
    expect(done.result).toMatchObject({deployment: NAME, deleted: true})
    for (const name of CONTAINERS) {
      const left = await labelled(key(name), t.system.installationId)
      expect(left.containers).toHaveLength(0)
      expect(left.volumes).toHaveLength(0)
      expect(await t.system.store.portsOf(key(name))).toEqual([])
    }
    expect(await t.system.store.deployments.list()).toEqual([])
  })
})
