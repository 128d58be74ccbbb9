import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createConnection, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {RUN} from '../helpers/cli.js'
import {docker, labelled} from '../helpers/docker.js'
import {expectNothingLeft, ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

const IMAGES = fileURLToPath(new URL('../../images', import.meta.url))
const COLLECTOR = {service_id: 'cc5405cd-c745-4ed1-8e1e-a06ca969f93e', plan_id: '986235fb-f817-43eb-9581-0ea4faa7dad6'}
const APP_SERVICE = '5a1c3e9e-0d7e-4f43-9a55-3c1f1d3b2a01'
const PLANS = {
  json: '5a1c3e9e-0d7e-4f43-9a55-3c1f1d3b2a11',
  local: '5a1c3e9e-0d7e-4f43-9a55-3c1f1d3b2a12',
  syslog: '5a1c3e9e-0d7e-4f43-9a55-3c1f1d3b2a13',
  noCache: '5a1c3e9e-0d7e-4f43-9a55-3c1f1d3b2a14',
  journald: '5a1c3e9e-0d7e-4f43-9a55-3c1f1d3b2a15',
}
const app = (plan: keyof typeof PLANS) => ({service_id: APP_SERVICE, plan_id: PLANS[plan], ...ORG})

/** Redis (it says "Ready to accept connections" when it starts) logging through `logging`. */
const redisPlan = (name: keyof typeof PLANS, logging: string) => `
      - id: ${PLANS[name]}
        name: ${name.toLowerCase()}
        description: redis logging ${name}
        container:
          image: dbroker/redis:7
          build: ${IMAGES}/redis
          ports: [6379]
          volumes: [/data]
          memory: 128m
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 60s}
${logging ? `          logging: ${logging}` : ''}`

/** The shipped collector service, as images/catalog.yml has it, and an app whose plans log in each way. */
const catalogYaml = (collectorPort: number) => `services:
  - id: ${COLLECTOR.service_id}
    name: log-collector
    description: syslog drain
    bindable: true
    requires: [syslog_drain]
    plans:
      - id: ${COLLECTOR.plan_id}
        name: small
        description: collector
        container:
          image: dbroker/log-collector:1
          build: ${IMAGES}/log-collector
          ports: [5514]
          volumes: [/data]
          memory: 64m
          credentials: {username: syslog, env: {password: COLLECTOR_PASSWORD}}
          uri: syslog://{host}:{port}
          readiness: {probe: exec, command: [test, -e, /tmp/collector.ready], timeout: 30s}
  - id: ${APP_SERVICE}
    name: app
    description: an app that logs
    bindable: true
    plan_updateable: true
    plans:${redisPlan('json', '{driver: json-file, options: {max-size: 1m}}')}${redisPlan('local', '')}${redisPlan(
      'syslog',
      `{driver: syslog, options: {syslog-address: "tcp://127.0.0.1:${collectorPort}", syslog-format: rfc5424, tag: "{{.Name}}", mode: non-blocking}}`,
    )}${redisPlan(
      'noCache',
      `{driver: syslog, options: {syslog-address: "tcp://127.0.0.1:${collectorPort}", cache-disabled: true}}`,
    )}${redisPlan('journald', '{driver: journald}')}
`

/** A range of ten ports nothing listens on, so the collector (the first instance) gets the first of them. */
async function freeRange(): Promise<[number, number]> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
  for (;;) {
    const base = 47000 + Math.floor(Math.random() * 190) * 10
    const all = await Promise.all(Array.from({length: 10}, (_, i) => free(base + i)))
    if (all.every(Boolean)) return [base, base + 9]
  }
}

describe('logs through Docker logging drivers, with a syslog collector (real engine)', () => {
  let t: TestSystem
  let dir: string
  let range: [number, number]
  const made: string[] = []
  const admin = () => ({
    DBROKER_URL: t.system.url,
    DBROKER_USERNAME: t.system.credentials.username,
    DBROKER_PASSWORD: t.system.credentials.password,
    DBROKER_ADMIN_USERNAME: t.system.adminCredentials.username,
    DBROKER_ADMIN_PASSWORD: t.system.adminCredentials.password,
  })
  /** `dbroker logs ARGS` as the operator runs it, against this system. */
  const logs = (...args: string[]) =>
    new Promise<{code: number; stdout: string; stderr: string}>((resolve) => {
      const env: NodeJS.ProcessEnv = {...process.env, ...admin(), NO_COLOR: '1', XDG_CONFIG_HOME: dir}
      delete env.DBROKER_CONTEXT
      execFile(process.execPath, [RUN, 'logs', ...args], {env, timeout: 60_000}, (error, stdout, stderr) =>
        resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr}),
      )
    })
  const provision = async (id: string, body: Record<string, unknown>) => {
    made.push(id)
    return t.osb.provision(id, body)
  }
  const containerOf = async (id: string) => {
    const {containers} = await labelled(id, t.system.installationId)
    expect(containers, `containers of ${id}`).toHaveLength(1)
    return docker.getContainer(containers[0].Id).inspect()
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-logging-'))
    range = await freeRange()
    writeFileSync(path.join(dir, 'catalog.yml'), catalogYaml(range[0]))
    t = await startTestSystem({catalogFile: path.join(dir, 'catalog.yml'), portRange: range})
  })
  afterAll(async () => {
    for (const id of made.reverse()) await t?.osb.deprovision(id, {}).catch(() => undefined)
    await t?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('an instance logging with syslog to the collector: the collector shows its lines, and `dbroker logs` of the instance still reads them (dual logging)', async () => {
    const collector = testId('collector')
    expect((await provision(collector, {...COLLECTOR, ...ORG})).status).toBe(201)
    const binding = await t.osb.bind(collector, testId('b'), COLLECTOR)
    expect(binding.status).toBe(201)
    // The collector's bindings carry the drain the platform sends a bound app's logs to (OSB: requires syslog_drain).
    expect(binding.body.syslog_drain_url).toBe(`syslog://127.0.0.1:${range[0]}`)
    expect(binding.body.credentials.uri).toBe(binding.body.syslog_drain_url)

    const instance = testId('app')
    expect((await provision(instance, app('syslog'))).status).toBe(201)
    const info = await containerOf(instance)
    expect(info.HostConfig.LogConfig).toEqual({
      Type: 'syslog',
      Config: {
        mode: 'non-blocking',
        'syslog-address': `tcp://127.0.0.1:${range[0]}`,
        'syslog-format': 'rfc5424',
        tag: '{{.Name}}',
      },
    })
    const sender = info.Name.replace(/^\//, '')

    // What redis printed went to the collector, which prints it under the sender's name.
    await vi.waitFor(
      async () => {
        const drained = await logs(collector, '--tail', 'all')
        expect(drained.code, drained.stderr).toBe(0)
        expect(drained.stdout).toMatch(new RegExp(`^${sender} .*Ready to accept connections`, 'm'))
      },
      {timeout: 30_000, interval: 500},
    )
    // And the engine's read-back cache still has it for the instance's own logs.
    const own = await logs(instance, '--tail', 'all', '--grep', 'Ready to accept')
    expect(own.code, own.stderr).toBe(0)
    expect(own.stdout).toMatch(/Ready to accept connections/)

    // An app draining to syslog_drain_url directly (RFC 3164 over TCP) is kept apart, in its own file.
    const port = Number(new URL(binding.body.syslog_drain_url).port)
    await new Promise<void>((resolve, reject) => {
      const socket = createConnection(port, '127.0.0.1', () =>
        socket.end('<14>Dec  2 05:00:00 web-1 shop-web[42]: GET /cart 200\n', () => resolve()),
      )
      socket.on('error', reject)
    })
    await vi.waitFor(
      async () => {
        const drained = await logs(collector, '--grep', '^shop-web ')
        expect(drained.stdout).toBe('shop-web GET /cart 200\n')
      },
      {timeout: 15_000, interval: 300},
    )
    const collectorInfo = await containerOf(collector)
    const exec = await docker
      .getContainer(collectorInfo.Id)
      .exec({Cmd: ['cat', '/data/shop-web.log', `/data/${sender}.log`], AttachStdout: true, AttachStderr: true})
    const stream = await exec.start({hijack: true, stdin: false})
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    await new Promise((resolve) => stream.on('end', resolve))
    const files = Buffer.concat(chunks).toString('latin1')
    expect(files).toContain('GET /cart 200')
    expect(files).toMatch(/Ready to accept connections/)
  })

  it('with the read-back cache off, `dbroker logs` says the syslog driver cannot be read and where the lines went', async () => {
    const instance = testId('nocache')
    expect((await provision(instance, app('noCache'))).status).toBe(201)
    expect((await containerOf(instance)).HostConfig.LogConfig?.Config).toMatchObject({'cache-disabled': 'true'})
    const result = await logs(instance)
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('cannot read back logs written with the syslog logging driver')
    expect(result.stderr).toContain('cache-disabled')
    expect(result.stderr).toContain(`tcp://127.0.0.1:${range[0]}`)
  })

  it('json-file and local (the default) are capped and read back, and another plan’s logging makes the container again', async () => {
    const json = testId('json')
    const local = testId('local')
    expect((await provision(json, app('json'))).status).toBe(201)
    expect((await provision(local, app('local'))).status).toBe(201)
    expect((await containerOf(json)).HostConfig.LogConfig).toEqual({
      Type: 'json-file',
      Config: {'max-file': '3', 'max-size': String(1024 ** 2)},
    })
    expect((await containerOf(local)).HostConfig.LogConfig).toEqual({
      Type: 'local',
      Config: {'max-file': '3', 'max-size': String(10 * 1024 ** 2)},
    })
    for (const id of [json, local]) {
      const result = await logs(id, '--grep', 'Ready to accept')
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/Ready to accept connections/)
    }

    // Another plan's logging is another container: an update makes it again, logging the new way.
    const before = (await containerOf(local)).Id
    const update = await t.osb.update(local, {service_id: APP_SERVICE, plan_id: PLANS.json})
    expect(update.status, JSON.stringify(update.body)).toBe(200)
    const after = await containerOf(local)
    expect(after.Id).not.toBe(before)
    expect(after.HostConfig.LogConfig?.Type).toBe('json-file')
  })

  it('journald: read back where the engine has a journal, else a provision that fails saying so and leaves nothing', async () => {
    const instance = testId('journald')
    const response = await provision(instance, app('journald'))
    if (existsSync('/run/systemd/journal/socket')) {
      expect(response.status).toBe(201)
      expect((await logs(instance, '--grep', 'Ready to accept')).stdout).toMatch(/Ready to accept connections/)
      return
    }
    // No systemd journal on this machine (no systemd-journald runs): the engine refuses the driver.
    expect(response.status).toBeGreaterThanOrEqual(400)
    expect(JSON.stringify(response.body)).toContain('journald is not enabled on this host')
    await expectNothingLeft(t, instance)
  })
})
