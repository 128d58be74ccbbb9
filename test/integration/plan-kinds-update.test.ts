import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {randomSecret} from '../../src/broker/credentials.js'
import {BrokerClient} from '../../src/client/broker-client.js'
import type {InstanceDetail} from '../../src/core/admin.js'
import {instanceHealth} from '../../src/core/format.js'
import {redis} from '../helpers/clients.js'
import {RUN} from '../helpers/cli.js'
import {docker, labelled} from '../helpers/docker.js'
import {startRegistry, type TestRegistry} from '../helpers/registry.js'
import {ORG, startTestSystem, testId, TEST_RUN, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const RANGE: [number, number] = [43750, 43759]
const ADOPTED_PORT = 43760

const REDIS_ID = '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c60'
const POOL_A = {service_id: REDIS_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c61'}
const POOL_B = {service_id: REDIS_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c62'}
const SOLO = {service_id: REDIS_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c63'}
const DEDICATED = {service_id: REDIS_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c64'}
const GIVEN_ID = '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c70'
const STATIC_1 = {service_id: GIVEN_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c71'}
const STATIC_2 = {service_id: GIVEN_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c72'}
const ADOPTED_ID = '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c80'
const ADOPTED = {service_id: ADOPTED_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c81'}
const ADOPTED_2 = {service_id: ADOPTED_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c82'}
const ELSEWHERE = {service_id: ADOPTED_ID, plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c83'}

/** A redis container; a dedicated plan's binds through the env-form hooks, a shared one's through the JSON executables. */
const redisContainer = (memory: string, image = 'dbroker/redis:7', hooks = false) => `
        container:
          image: ${image}
          ports: [6379]
          volumes: [/data]
          memory: ${memory}
          restart: unless-stopped
          credentials:
            username: default
            env: {password: REDIS_PASSWORD}
          binding_credentials: per-binding${hooks ? '\n          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}' : ''}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 60s}`

const shared = (ids: {plan_id: string}, name: string, container: string) => `
      - id: ${ids.plan_id}
        name: ${name}
        description: A key prefix in container ${container}
        client: redis-cli
        kind: {shared: {container: ${container}}}
        schemas:
          service_instance:
            update:
              parameters:
                $schema: http://json-schema.org/draft-07/schema#
                type: object
                additionalProperties: false
                properties:
                  tier: {type: string, enum: [bronze, silver]}${redisContainer('256m')}`

const given = (ids: {plan_id: string}, name: string, password: string) => `
      - id: ${ids.plan_id}
        name: ${name}
        description: The operator's credentials ${name}
        kind:
          static:
            credentials: {host: db.example.com, port: 6379, username: ${name}, password: "${password}", uri: "redis://${name}:${password}@db.example.com:6379"}`

const adopted = (ids: {plan_id: string}, name: string, container: string, password: string) => `
      - id: ${ids.plan_id}
        name: ${name}
        description: The operator's redis ${container}
        client: redis-cli
        kind:
          existing:
            host: local
            container: ${container}
            port: ${ADOPTED_PORT}
            credentials: {host: 127.0.0.1, port: ${ADOPTED_PORT}, username: default, password: "${password}", uri: "redis://default:${password}@127.0.0.1:${ADOPTED_PORT}"}`

function catalog(passwords: {one: string; two: string; adopted: string}, container: string): string {
  return `
services:
  - id: ${REDIS_ID}
    name: pooled-redis
    description: Redis key prefixes in shared containers
    bindable: true
    instances_retrievable: true
    plan_updateable: true
    plans:${shared(POOL_A, 'pool-a', 'pool')}${shared(POOL_B, 'pool-b', 'pool')}${shared(SOLO, 'solo', 'solo')}
      - id: ${DEDICATED.plan_id}
        name: own
        description: A redis of its own${redisContainer('128m', undefined, true)}
  - id: ${GIVEN_ID}
    name: given-redis
    description: A redis the operator runs elsewhere
    bindable: true
    plan_updateable: true
    plans:${given(STATIC_1, 'one', passwords.one)}${given(STATIC_2, 'two', passwords.two)}
  - id: ${ADOPTED_ID}
    name: adopted-redis
    description: The operator's own redis container
    bindable: true
    plan_updateable: true
    plans:${adopted(ADOPTED, 'adopted', container, passwords.adopted)}${adopted(ADOPTED_2, 'adopted-2', container, passwords.adopted)}${adopted(ELSEWHERE, 'elsewhere', `${container}-other`, passwords.adopted)}
`
}

describe('updates, logs, restart and health of instances of shared, static and existing plans', () => {
  let t: TestSystem
  let admin: BrokerClient
  const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-kinds-update-'))
  const passwords = {one: randomSecret(24), two: randomSecret(24), adopted: randomSecret(24)}
  const operators = `t-operators-redis-${TEST_RUN}`

  beforeAll(async () => {
    await docker
      .createContainer({
        name: operators,
        Image: 'dbroker/redis:7',
        Env: [`REDIS_PASSWORD=${passwords.adopted}`],
        HostConfig: {PortBindings: {'6379/tcp': [{HostIp: '127.0.0.1', HostPort: String(ADOPTED_PORT)}]}},
      })
      .then((c) => c.start())
    writeFileSync(path.join(dir, 'catalog.yml'), catalog(passwords, operators))
    t = await startTestSystem({catalogFile: path.join(dir, 'catalog.yml'), portRange: RANGE})
    const {username, password} = t.system.credentials
    const a = t.system.adminCredentials
    admin = new BrokerClient({
      url: t.system.url,
      username,
      password,
      adminUsername: a.username,
      adminPassword: a.password,
    })
  }, 120_000)
  afterAll(async () => {
    await t?.close()
    await docker
      .getContainer(operators)
      .remove({force: true, v: true})
      .catch(() => undefined)
    rmSync(dir, {recursive: true, force: true})
  })

  const provision = async (id: string, plan: {service_id: string; plan_id: string}) => {
    const reply = await t.osb.provision(id, {...plan, ...ORG})
    expect(reply.status, JSON.stringify(reply.body)).toBe(201)
  }
  const bind = async (id: string, plan: {service_id: string; plan_id: string}) => {
    const bound = await t.osb.bind(id, testId('b'), plan)
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    return bound.body.credentials as {uri: string; key_prefix?: string; password: string}
  }
  const fetched = async (id: string) => (await t.osb.request('GET', `/v2/service_instances/${id}`)).body
  const startedAt = async (nameOrId: string) => (await docker.getContainer(nameOrId).inspect()).State.StartedAt
  const poolContainer = async () => {
    const [c] = (await labelled(undefined, t.system.installationId)).containers.filter(
      (x) => x.Labels['dbroker.shared'] === 'pool',
    )
    expect(c, 'the shared container pool').toBeDefined()
    return c.Id
  }
  /** The commands run in a container since `since` (unix seconds), from the engine's own event log. */
  const execsSince = async (container: string, since: number) => {
    const stream = await docker.getEvents({
      since,
      until: Math.ceil(Date.now() / 1000) + 1,
      filters: JSON.stringify({type: ['container'], event: ['exec_start'], container: [container]}),
    })
    let text = ''
    for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString()
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as {Action: string}).Action)
  }
  /** The built CLI as a user runs it, without a terminal; async, since the broker answering it runs in this process. */
  const cli = (args: string[]) => {
    const a = t.system.adminCredentials
    return new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
      const child = spawn(process.execPath, [RUN, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          NO_COLOR: '1',
          XDG_CONFIG_HOME: dir,
          DBROKER_URL: t.system.url,
          DBROKER_USERNAME: t.system.credentials.username,
          DBROKER_PASSWORD: t.system.credentials.password,
          DBROKER_ADMIN_USERNAME: a.username,
          DBROKER_ADMIN_PASSWORD: a.password,
        },
      })
      let [stdout, stderr] = ['', '']
      child.stdout.on('data', (chunk) => (stdout += chunk))
      child.stderr.on('data', (chunk) => (stderr += chunk))
      child.on('close', (code) => resolve({code, stdout, stderr}))
    })
  }

  it('a shared instance takes new parameters and another plan of its container, keeping its data, bindings and container; what would move data is a 422 saying why', async () => {
    const [a, b] = [testId(), testId()]
    await provision(a, POOL_A)
    await provision(b, POOL_A)
    const container = await poolContainer()
    const started = await startedAt(container)
    const ca = await bind(a, POOL_A)
    expect(redis(ca.uri, 'SET', `${ca.key_prefix}k`, 'kept')).toBe('OK')

    const since = Math.floor(Date.now() / 1000) - 1
    const changed = await t.osb.update(a, {service_id: REDIS_ID, parameters: {tier: 'silver'}})
    expect(changed.status, JSON.stringify(changed.body)).toBe(200)
    expect((await fetched(a)).parameters).toEqual({tier: 'silver'})
    // The instance's own executable ran again in its container, with the new document.
    expect((await execsSince(container, since)).some((e) => e.startsWith('exec_start: /dbroker/provision'))).toBe(true)

    const moved = await t.osb.update(a, {service_id: REDIS_ID, plan_id: POOL_B.plan_id}, true)
    expect(moved.status, JSON.stringify(moved.body)).toBe(202)
    expect((await t.osb.waitFor(a, moved.body.operation)).body.state).toBe('succeeded')
    expect((await fetched(a)).plan_id).toBe(POOL_B.plan_id)
    expect(redis(ca.uri, 'GET', `${ca.key_prefix}k`)).toBe('kept')
    const again = await bind(a, POOL_B)
    expect(again.key_prefix).toBe(ca.key_prefix)
    expect(redis(again.uri, 'GET', `${again.key_prefix}k`)).toBe('kept')
    expect(await startedAt(container)).toBe(started)

    const bad = await t.osb.update(a, {service_id: REDIS_ID, parameters: {tier: 'gold'}})
    expect(bad.status).toBe(400)
    expect(bad.body.description).toMatch(/tier/)
    const solo = await t.osb.update(a, {service_id: REDIS_ID, plan_id: SOLO.plan_id})
    expect(solo.status).toBe(422)
    expect(solo.body.description).toMatch(/shared container pool.*shared container solo.*does not move data/)
    const own = await t.osb.update(a, {service_id: REDIS_ID, plan_id: DEDICATED.plan_id})
    expect(own.status).toBe(422)
    expect(own.body.description).toMatch(/shared plan pool-b can't move to dedicated plan own/)
    // Nothing of the refused ones changed anything.
    expect(await fetched(a)).toMatchObject({plan_id: POOL_B.plan_id, parameters: {tier: 'silver'}})
    expect((await admin.instances({stats: false})).find((i) => i.id === b)?.plan).toBe('pool-a')
  })

  it('a static instance moves to another static plan (new bindings get its credentials), refuses parameters saying why, has health `static` and no container to log or restart', async () => {
    const s = testId()
    await provision(s, STATIC_1)
    expect((await bind(s, STATIC_1)).password).toBe(passwords.one)
    const moved = await t.osb.update(s, {service_id: GIVEN_ID, plan_id: STATIC_2.plan_id})
    expect(moved.status, JSON.stringify(moved.body)).toBe(200)
    expect((await bind(s, STATIC_2)).password).toBe(passwords.two)
    const parameters = await t.osb.update(s, {service_id: GIVEN_ID, parameters: {x: 1}})
    expect(parameters.status).toBe(422)
    expect(parameters.body.description).toMatch(/static plan two .* runs nothing/)

    const view = (await admin.instances({stats: false})).find((i) => i.id === s)!
    expect(view.kind).toBe('static')
    expect(view.container).toBeNull()
    expect(instanceHealth(view)).toBe('static')
    await expect(admin.restart(s, {force: true})).rejects.toThrow(/static plan two: it has no container/)
    await expect(
      (async () => {
        for await (const _ of admin.logs(s)) break
      })(),
    ).rejects.toThrow(/no container/)
  })

  it("an adopted container's instance reports that container's health, stats and logs, restarts only when forced, and moves only between plans of that container", async () => {
    const e = testId()
    await provision(e, ADOPTED)
    const credentials = await bind(e, ADOPTED)
    expect(redis(credentials.uri, 'PING')).toBe('PONG')
    const view = await admin.instance(e)
    expect(view.kind).toBe('existing')
    // The image's HEALTHCHECK, as the engine reports it for the operator's container.
    await until('the adopted container is healthy', async () => instanceHealth(await admin.instance(e)) === 'healthy')
    await until('a stats sample of the adopted container', async () => (await admin.instance(e)).stats !== null)

    await docker.getContainer(operators).stop({t: 1})
    expect(instanceHealth(await admin.instance(e))).toBe('exited')
    await docker.getContainer(operators).start()
    await until('the adopted redis answers', () => redis(credentials.uri, 'PING') === 'PONG')
    expect(instanceHealth(await admin.instance(e))).toMatch(/^(starting|healthy)$/)

    let logs = ''
    for await (const chunk of admin.logs(e, {tail: 50})) logs += chunk
    expect(logs).toMatch(/Ready to accept connections/)

    const before = await startedAt(operators)
    await expect(admin.restart(e)).rejects.toThrow(new RegExp(`adopted container ${operators}.*force=true`))
    expect(await startedAt(operators)).toBe(before)
    await admin.restart(e, {force: true})
    expect(await startedAt(operators)).not.toBe(before)
    await until('the adopted redis answers after its restart', () => redis(credentials.uri, 'PING') === 'PONG')

    expect((await t.osb.update(e, {service_id: ADOPTED_ID, plan_id: ADOPTED_2.plan_id})).status).toBe(200)
    const elsewhere = await t.osb.update(e, {service_id: ADOPTED_ID, plan_id: ELSEWHERE.plan_id})
    expect(elsewhere.status).toBe(422)
    expect(elsewhere.body.description).toMatch(/does not move data between containers/)
    expect((await fetched(e)).plan_id).toBe(ADOPTED_2.plan_id)
  })

  it("logs, stats and restart of a shared instance act on its shared container; the CLI's restart says who else it interrupts and needs --force without a terminal", async () => {
    const [a, b] = [testId(), testId()]
    await provision(a, POOL_A)
    await provision(b, POOL_A)
    const ca = await bind(a, POOL_A)
    expect(redis(ca.uri, 'SET', `${ca.key_prefix}k`, 'kept')).toBe('OK')
    const container = await poolContainer()

    let logs = ''
    for await (const chunk of admin.logs(a, {tail: 200})) logs += chunk
    expect(logs).toMatch(/Ready to accept connections/)
    const detail: InstanceDetail = await admin.instance(a)
    expect(detail.kind).toBe('shared')
    expect(detail.tenants).toBeGreaterThanOrEqual(1)
    expect(instanceHealth(detail)).toMatch(/^(starting|healthy)$/)
    await until('a stats sample of the shared container', async () => (await admin.instance(a)).stats !== null)

    const before = await startedAt(container)
    await expect(admin.restart(a)).rejects.toThrow(/shared container .*other instance\(s\).*interrupts every instance/)
    const refused = await cli(['restart', a])
    expect(refused.code, refused.stderr).toBe(2)
    expect(refused.stderr).toMatch(/lives in a shared container: restarting it interrupts .* other instance\(s\)/)
    expect(refused.stderr).toMatch(/--force/)
    expect(await startedAt(container)).toBe(before)

    const forced = await cli(['restart', a, '--force'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(await startedAt(container)).not.toBe(before)
    await until('the shared redis answers after its restart', () => {
      try {
        return redis(ca.uri, 'GET', `${ca.key_prefix}k`) === 'kept'
      } catch {
        return false
      }
    })
  })
})

/** A TCP proxy to `target` that passes the answers on at about `bytesPerSecond`: a pull through it takes seconds. */
function slowProxy(target: number, bytesPerSecond: number): Promise<{port: number; close(): Promise<void>}> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    }
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk)
      upstream.pause()
      setTimeout(() => upstream.resume(), (chunk.length / bytesPerSecond) * 1000)
    })
    upstream.on('end', () => client.end())
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as {port: number}).port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          }),
      }),
    ),
  )
}

describe("a provision that pulls its plan's image", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-pull-'))
  const PULLED = {service_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c90', plan_id: '5e0b9c1a-7d2f-4a3b-8c4d-1e2f3a4b5c91'}
  let registry: TestRegistry
  let proxy: {port: number; close(): Promise<void>}
  let t: TestSystem
  let image: string

  beforeAll(async () => {
    registry = await startRegistry(dir)
    // A layer of its own (random, so it neither compresses nor exists on the engine), pushed, then gone from the engine.
    const pushed = `${registry.address}/t-pull-redis:${TEST_RUN}`
    execFileSync('docker', ['build', '-q', '-t', pushed, '-'], {
      input: 'FROM dbroker/redis:7\nRUN head -c 24000000 /dev/urandom > /blob\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    execFileSync('docker', ['push', '-q', pushed], {stdio: 'ignore'})
    execFileSync('docker', ['rmi', pushed], {stdio: 'ignore'})
    proxy = await slowProxy(Number(registry.address.split(':')[1]), 4_000_000)
    image = `127.0.0.1:${proxy.port}/t-pull-redis:${TEST_RUN}`
    writeFileSync(
      path.join(dir, 'catalog.yml'),
      `
services:
  - id: ${PULLED.service_id}
    name: pulled-redis
    description: A redis whose image comes from a registry
    bindable: true
    plans:
      - id: ${PULLED.plan_id}
        name: pulled
        description: Pulled on first use${redisContainer('128m', image, true)}
`,
    )
    t = await startTestSystem({catalogFile: path.join(dir, 'catalog.yml'), portRange: [43770, 43779]})
    // `up` pulled the catalog's images as it started: the provision's host must pull it again.
    execFileSync('docker', ['rmi', image], {stdio: 'ignore'})
  }, 180_000)
  afterAll(async () => {
    await t?.close()
    spawnSync('docker', ['rmi', image], {stdio: 'ignore'})
    await proxy?.close()
    await registry?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it("says how the pull goes in the operation's description while it runs", async () => {
    const id = testId()
    const reply = await t.osb.provision(id, {...PULLED, ...ORG}, true)
    expect(reply.status, JSON.stringify(reply.body)).toBe(202)
    const seen = new Set<string>()
    const op = await until(
      'the provision ends',
      async () => {
        const last = (await t.osb.lastOperation(id, {operation: reply.body.operation})).body
        seen.add(last.description)
        return last.state === 'in progress' ? undefined : last
      },
      {timeoutMs: 120_000, everyMs: 100},
    )
    expect(op.state, op.description).toBe('succeeded')
    const pulling = [...seen].filter((d) => d.startsWith(`provision in progress: pulling image ${image}`))
    expect(
      pulling.some((d) => /: \S+ (Downloading|Extracting) /.test(d)),
      [...seen].join('\n'),
    ).toBe(true)
    const credentials = (await t.osb.bind(id, testId('b'), PULLED)).body.credentials as {uri: string}
    expect(redis(credentials.uri, 'PING')).toBe('PONG')
  })
})
