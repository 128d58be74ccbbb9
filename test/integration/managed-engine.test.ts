import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import YAML from 'yaml'

import {redis} from '../helpers/clients.js'
import type {Daemon} from '../helpers/multihost.js'
import {type PrivateEngine, privateEngine, spawnAgent, spawnBroker} from '../helpers/private-engine.js'
import {OsbClient} from '../helpers/osb.js'
import {freePort, pushImage, startRegistry, type TestRegistry} from '../helpers/registry.js'
import {ORG, REDIS, testId} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const RUN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const HOST = 'managed'
const RANGE = '47330-47359'
const OSB = {username: 'broker', password: randomBytes(12).toString('hex')}
const ADMIN = {username: 'ops', password: randomBytes(12).toString('hex')}
const PRIVATE = {service_id: '5b0d7c2e-1f0e-4d55-9c57-3b7f1d2e9a01', plan_id: '5b0d7c2e-1f0e-4d55-9c57-3b7f1d2e9a02'}
const LOGIN = {username: 'puller', password: randomBytes(16).toString('hex')}
const WRONG = randomBytes(16).toString('hex')

type Credentials = {uri: string; port: number; password: string}

/** The default catalog, build paths made absolute, plus a redis service whose image lives only in the private registry. */
function catalogWithPrivateImage(file: string, image: string): void {
  const images = path.resolve('images')
  const catalog = YAML.parse(readFileSync(path.join(images, 'catalog.yml'), 'utf8')) as {
    services: Array<{id: string; name: string; plans: Array<{id: string; container: {image: string; build?: string}}>}>
  }
  for (const service of catalog.services)
    for (const plan of service.plans)
      if (plan.container.build) plan.container.build = path.join(images, plan.container.build)
  const redisService = catalog.services.find((s) => s.name === 'redis')!
  const copy = structuredClone(redisService)
  copy.id = PRIVATE.service_id
  copy.name = 'private-redis'
  copy.plans = [{...copy.plans[0], id: PRIVATE.plan_id, container: {...copy.plans[0].container, image}}]
  delete copy.plans[0].container.build
  catalog.services = [redisService, copy]
  writeFileSync(file, YAML.stringify(catalog))
}

/**
 * One host of its own, as issue 9 and 11 tell it: a private dockerd (own data root, exec root, pidfile, socket,
 * daemon.json and bridge; no iptables), a broker process and an agent that manages that dockerd. Two real
 * registries beside it: a mirror, and a private one with htpasswd auth.
 */
describe('an agent that manages its engine: dockerd killed and started again, registry mirrors, private registries', () => {
  let dir: string
  let docker: PrivateEngine
  let broker: Daemon | undefined
  let agent: Daemon | undefined
  let osb: OsbClient
  let mirror: TestRegistry | undefined
  let privateRegistry: TestRegistry | undefined
  let ports: {broker: number; agent: number; manifest: number}
  let mirrorImage: string
  let privateImage: string
  const cli = (args: string[], input?: string) =>
    execFileSync(process.execPath, [RUN, ...args], {
      encoding: 'utf8',
      input,
      stdio: 'pipe',
      env: {
        ...process.env,
        DBROKER_URL: `http://127.0.0.1:${ports.broker}`,
        DBROKER_ADMIN_USERNAME: ADMIN.username,
        DBROKER_ADMIN_PASSWORD: ADMIN.password,
        XDG_CONFIG_HOME: dir,
        HOME: dir,
      },
    })
  const json = <T>(args: string[], input?: string) =>
    (JSON.parse(cli([...args, '--json'], input)) as {result: T}).result
  const startAgent = async (manage: boolean) => {
    agent = spawnAgent(dir, docker, {
      id: HOST,
      port: ports.agent,
      brokerPort: ports.broker,
      range: RANGE,
      extraArgs: manage ? ['--manage-engine', '--engine-pidfile', path.join(dir, 'docker.pid')] : [],
    })
    await agent.ready
  }
  type HostJson = {id: string; facts: {engine?: {status: string}; engineControl?: {restarts?: number}} | null}
  const host = () => json<HostJson[]>(['hosts']).find((h) => h.id === HOST)
  type RegistryRow = {host: string; state: string; why?: string; actual: {mirrors: string[]} | null}
  const registryRow = () => json<RegistryRow[]>(['hosts', 'registry', HOST])[0]
  const agentLog = () => readFileSync(path.join(dir, 'agent.log'), 'utf8')
  const manifestPing = () =>
    execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.manifest), 'PING'], {
      encoding: 'utf8',
      timeout: 10_000,
    }).trim()

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/dbme-')
    ports = {broker: await freePort(), agent: await freePort(), manifest: await freePort()}
    docker = privateEngine(dir, {
      bridge: `dbme${process.pid.toString(36)}`,
      subnet: '10.94.0.1/24',
      extraArgs: ['--config-file', path.join(dir, 'daemon.json')],
    })
    // A setting of the operator's own, which the agent's registry settings must leave alone.
    writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({'max-concurrent-downloads': 2}, null, 2) + '\n')
    writeFileSync(path.join(dir, 'store.key'), `${randomBytes(32).toString('hex')}\n`, {mode: 0o600})
    mkdirSync(path.join(dir, 'docker-cli'))
    try {
      mirror = await startRegistry(path.join(dir, 'mirror'))
      privateRegistry = await startRegistry(path.join(dir, 'private'), {login: LOGIN})
      const tag = randomBytes(3).toString('hex')
      // Docker Hub's name: the managed engine can get it only through the mirror (no registry is reachable here).
      mirrorImage = `dbroker-mirror-test-${tag}:7`
      pushImage('dbroker/redis:7', `${mirror.address}/library/${mirrorImage}`, path.join(dir, 'docker-cli'))
      privateImage = `${privateRegistry.address}/private/redis-${tag}:7`
      pushImage('dbroker/redis:7', privateImage, path.join(dir, 'docker-cli'), {
        registry: privateRegistry.address,
        ...LOGIN,
      })
      catalogWithPrivateImage(path.join(dir, 'catalog.yml'), privateImage)
      await docker.start()
      execFileSync('sh', ['-c', `docker save dbroker/redis:7 | docker -H unix://${docker.socket} load >/dev/null`])
      broker = spawnBroker(dir, {port: ports.broker, catalog: path.join(dir, 'catalog.yml'), osb: OSB, admin: ADMIN})
      await broker.ready
      cli(['hosts', 'add', HOST, '--token-file', path.join(dir, 'agent.token'), '--json'])
      await startAgent(true)
      osb = new OsbClient(`http://127.0.0.1:${ports.broker}`, OSB)
      await until('the host alive with its engine', () => host()?.facts?.engine?.status === 'ok', 30_000)
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${broker?.logTail() ?? ''}\n${agent?.logTail() ?? ''}`, {
        cause: error,
      })
    }
  }, 240_000)

  afterAll(async () => {
    await Promise.all([broker, agent].map((d) => d?.kill('SIGKILL')))
    await docker?.destroy()
    await Promise.all([mirror?.stop(), privateRegistry?.stop()])
    rmSync(dir, {recursive: true, force: true})
  }, 120_000)

  it('a mirror set with `hosts registry` goes into daemon.json (the rest kept), is in force after SIGHUP, and a pull goes through it', async () => {
    const set = json<RegistryRow[]>([
      'hosts',
      'registry',
      HOST,
      '--mirror',
      mirror!.url,
      '--insecure',
      'dbroker-test.invalid:5000',
    ])
    expect(set[0].host).toBe(HOST)
    const row = await until('the settings in force', () => registryRow().state === 'in force' && registryRow(), 30_000)
    expect(row.actual!.mirrors.map((m) => m.replace(/\/$/, ''))).toEqual([mirror!.url])
    expect(JSON.parse(readFileSync(path.join(dir, 'daemon.json'), 'utf8'))).toEqual({
      'max-concurrent-downloads': 2,
      'registry-mirrors': [mirror!.url],
      'insecure-registries': ['dbroker-test.invalid:5000'],
    })
    const info = await docker.engine.info()
    expect(info.RegistryConfig.IndexConfigs['dbroker-test.invalid:5000']?.Secure).toBe(false)
    expect(docker.pid(), 'SIGHUP reloads; dockerd keeps running').toBeDefined()

    const manifest = path.join(dir, 'shop.yml')
    writeFileSync(
      manifest,
      [
        'name: shop',
        'hosts:',
        `  - name: ${HOST}`,
        '    containers:',
        '      - name: cache',
        `        image: ${mirrorImage}`,
        '        entrypoint: redis-server',
        `        command: "--protected-mode no --save ''"`,
        `        ports: ["127.0.0.1:${ports.manifest}:6379"]`,
        '        restart: always',
        '        readiness: {probe: tcp, send: "PING\\r\\n", expect: PONG, timeout: 30s}',
        '',
      ].join('\n'),
    )
    cli(['deploy', manifest, '--json'])
    expect(manifestPing()).toBe('PONG')
    expect(mirror!.log()).toContain(`/v2/library/${mirrorImage.replace(':', '/manifests/')}`)
  }, 180_000)

  it('a plan image in a private registry: a wrong password fails the provision naming registry and user; after login it provisions', async () => {
    cli(
      ['registry', 'login', `http://${privateRegistry!.address}`, '--username', LOGIN.username, '--password-stdin'],
      WRONG,
    )
    const refused = testId()
    const accepted = await osb.provision(refused, {...PRIVATE, ...ORG}, true)
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202)
    const failed = await osb.waitFor(refused, (accepted.body as {operation?: string}).operation)
    expect(failed.body.state).toBe('failed')
    expect(failed.body.description).toContain(
      `registry ${privateRegistry!.address} refused the login of user ${LOGIN.username}`,
    )
    expect(JSON.stringify(failed.body)).not.toContain(WRONG)
    // A provision that failed leaves nothing behind: the instance is gone already, or goes now.
    expect([200, 410]).toContain((await osb.deprovision(refused, PRIVATE)).status)

    cli(
      ['registry', 'login', privateRegistry!.address, '--username', LOGIN.username, '--password-stdin'],
      LOGIN.password,
    )
    const logins = json<Array<Record<string, unknown>>>(['registry', 'list'])
    expect(logins).toEqual([
      {registry: privateRegistry!.address, username: LOGIN.username, updatedAt: expect.any(Number)},
    ])
    const id = testId()
    const provisioned = await osb.provision(id, {...PRIVATE, ...ORG})
    expect(provisioned.status, `${JSON.stringify(provisioned.body)}\n${agent!.logTail()}`).toBe(201)
    const credentials = (await osb.bind(id, testId('b'), {...PRIVATE})).body.credentials as Credentials
    expect(redis(credentials.uri, 'PING')).toBe('PONG')
    expect(privateRegistry!.log()).toMatch(/GET \/v2\/private\/redis-[0-9a-f]+\/manifests\/7/)
    for (const log of [agentLog(), readFileSync(path.join(dir, 'broker.log'), 'utf8')]) {
      expect(log).not.toContain(LOGIN.password)
      expect(log).not.toContain(WRONG)
    }
  }, 180_000)

  it('SIGKILL dockerd: the agent reports the engine down, starts dockerd again, and every instance and manifest container answers', async () => {
    const id = testId()
    expect((await osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const credentials = (await osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
    expect(redis(credentials.uri, 'PING')).toBe('PONG')
    const before = docker.pid()!

    process.kill(before, 'SIGKILL')

    await until(
      'the agent to start dockerd again',
      () => agentLog().includes(`dockerd (pid ${before}) is gone`),
      30_000,
    )
    await until('a new dockerd', () => docker.pid() !== undefined && docker.pid() !== before, 60_000)
    expect(agentLog()).toContain(`the Docker engine is down: dockerd (pid ${before}) is gone`)
    // The broker hears it with the next heartbeat: the host's engine was started again once.
    await until('the restart in the host facts', () => host()?.facts?.engineControl?.restarts === 1, 30_000)
    await vi.waitFor(() => expect(redis(credentials.uri, 'PING')).toBe('PONG'), {timeout: 120_000, interval: 500})
    await vi.waitFor(() => expect(manifestPing()).toBe('PONG'), {timeout: 120_000, interval: 500})
    // Started as it ran: the same daemon.json, so the mirror is still in force.
    await until('the host answering again', () => host()?.facts?.engine?.status === 'ok', 30_000)
    expect(registryRow().state).toBe('in force')
    expect((await osb.deprovision(id, REDIS)).status).toBe(200)
  }, 240_000)

  it('without --manage-engine: desired settings are not applied (and say why), and a killed dockerd stays down until the operator starts it', async () => {
    await agent!.kill('SIGTERM')
    await startAgent(false)
    cli(['hosts', 'registry', HOST, '--mirror', mirror!.url, '--insecure', 'other.invalid:5000'])
    const row = await until(
      'the setting shown as not applied',
      () => registryRow().state === 'not applied' && registryRow(),
      30_000,
    )
    expect(row.why).toContain('--manage-engine')

    const id = testId()
    expect((await osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const credentials = (await osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
    const before = docker.pid()!
    process.kill(before, 'SIGKILL')
    await until('the host to show its engine down', () => host()?.facts?.engine?.status === 'down', 30_000)
    // A fixed wait only to show that nothing starts dockerd: three heartbeats later it is still down.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(docker.pid()).toBeUndefined()
    expect(host()?.facts?.engine?.status).toBe('down')

    await docker.start()
    await vi.waitFor(() => expect(redis(credentials.uri, 'PING')).toBe('PONG'), {timeout: 120_000, interval: 500})
    await vi.waitFor(() => expect(manifestPing()).toBe('PONG'), {timeout: 120_000, interval: 500})
    await until('the host answering again', () => host()?.facts?.engine?.status === 'ok', 30_000)
    expect((await osb.deprovision(id, REDIS)).status).toBe(200)
  }, 240_000)
})
