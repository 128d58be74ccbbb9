import {createHash} from 'node:crypto'
import {PassThrough} from 'node:stream'

import Fastify from 'fastify'
import {describe, expect, it} from 'vitest'

import {converge} from '../../src/agent/converger.js'
import {startHeartbeats} from '../../src/agent/heartbeat.js'
import {agentRoutes} from '../../src/broker/agents.js'
import {BrokerEvents} from '../../src/broker/events.js'
import {Provisioner} from '../../src/broker/lifecycle/index.js'
import {buildSpec, containerName, planSecurity, volumeName} from '../../src/broker/spec.js'
import {instanceCredentials} from '../../src/broker/credentials.js'
import {CatalogError, parseCatalog} from '../../src/catalog/index.js'
import type {AgentClient} from '../../src/core/agent.js'
import {createLogger} from '../../src/core/log.js'
import {DEFAULT_SECURITY, securityView} from '../../src/core/security.js'
import type {ContainerSpec, ContainerState, Host} from '../../src/core/types.js'
import {createOptions, specHash} from '../../src/docker/engine.js'
import {LogDemux} from '../../src/docker/logs.js'
import {hostTokenHash, newHostToken} from '../../src/core/host-identity.js'
import {hostIdentities, openStore} from '../../src/store/index.js'
import {confinement} from '../../src/core/security.js'
import {FakeAgent, guarded, kvCatalog, testRegistration} from '../helpers/fake-agent.js'

const catalog = (security = '') =>
  `services:
  - id: 11111111-1111-4111-8111-111111111111
    name: kv
    description: a key-value store
    bindable: true
    plans:
      - id: 22222222-2222-4222-8222-222222222222
        name: small
        description: small
        container:
          image: example/kv:1
          ports: [6379]
          volumes: [/data]
          memory: 64m
          credentials: {env: {password: PASSWORD}}
          uri: kv://{host}:{port}
${security}`

const host: Host = {
  id: 'local',
  serviceAddress: '127.0.0.1',
  bindAddress: '127.0.0.1',
  agentUrl: null,
  portMin: 1,
  portMax: 2,
  status: 'alive',
  drained: false,
  zone: null,
  labels: {},
  facts: null,
  lastHeartbeat: 0,
  capacity: {maxContainers: null, memoryBytes: null},
  keepaliveMs: null,
}

function specFor(
  instanceId: string,
  security = '',
  installationId = 'a1b2c3d4e5f6',
  previous?: ContainerSpec,
): ContainerSpec {
  const {service, plan} = parseCatalog(catalog(security), 'catalog.yml').plan('22222222-2222-4222-8222-222222222222')!
  return buildSpec({
    instanceId,
    installationId,
    service,
    plan,
    host,
    ports: [{container: 6379, host: 40000, protocol: 'tcp'}],
    credentials: instanceCredentials(plan),
    parameters: {},
    previous,
  })
}

describe('names are one-to-one with instance ids', () => {
  it('an id whose old 16-hex digest is another id gets other names than that id', () => {
    const victim = 'sec pg victim'
    const attacker = createHash('sha256').update(victim).digest('hex').slice(0, 16)
    expect(attacker).toBe('438378e27dfee1aa')
    expect(volumeName('i', victim, 0)).not.toBe(volumeName('i', attacker, 0))
    expect(containerName('i', 'redis', victim)).not.toBe(containerName('i', 'redis', attacker))
  })

  it('ids, services, indexes and installations that could run together as text still give distinct names', () => {
    const ids = [
      'a',
      'a-0',
      'a-0-0',
      'x-y',
      'y',
      '_a',
      'A',
      'a.b',
      'a b',
      'a/b',
      'x'.repeat(48),
      'x'.repeat(49),
      '438378e27dfee1aa',
      'sec pg victim',
    ]
    const volumes = ids.flatMap((id) => [0, 1, 10].map((i) => volumeName('inst', id, i)))
    expect(new Set(volumes).size).toBe(volumes.length)
    const containers = ids.flatMap((id) =>
      ['redis', 'redis-x', 'x'].map((service) => containerName('inst', service, id)),
    )
    expect(new Set(containers).size).toBe(containers.length)
    expect(volumeName('inst', 'a', 0)).not.toBe(volumeName('other', 'a', 0))
    for (const name of [...volumes, ...containers]) expect(name).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/)
  })

  it('an update keeps the names the instance has, also those of the previous scheme', () => {
    const old = {
      ...specFor('my-cache'),
      name: 'dbroker-kv-my-cache',
      volumes: [{name: 'dbroker-my-cache-0', path: '/data'}],
    }
    const updated = specFor('my-cache', '', 'a1b2c3d4e5f6', old)
    expect(updated.name).toBe('dbroker-kv-my-cache')
    expect(updated.volumes).toEqual([{name: 'dbroker-my-cache-0', path: '/data'}])
    expect(specFor('my-cache').name).toBe('dbroker-a1b2c3d4e5f6-kv_my-cache')
  })
})

describe('hardened containers', () => {
  it('the create options drop every capability but the needed ones, forbid new privileges, bound pids, swap and logs, and use the installation network', () => {
    const spec = specFor('t1')
    const h = createOptions(spec, 'a1b2c3d4e5f6').HostConfig!
    expect(h).toMatchObject({
      Privileged: false,
      CapDrop: ['ALL'],
      CapAdd: DEFAULT_SECURITY.capabilities,
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: 512,
      Memory: 64 * 1024 ** 2,
      MemorySwap: 64 * 1024 ** 2,
      ReadonlyRootfs: true,
      NetworkMode: 'dbroker-a1b2c3d4e5f6',
      LogConfig: {Type: 'local', Config: {'max-file': '3', 'max-size': '10485760'}},
    })
    expect(Object.keys(h.Tmpfs!)).toEqual(['/tmp', '/run'])
    expect(createOptions(spec, 'a1b2c3d4e5f6').Labels).toMatchObject({
      'dbroker.instance': 't1',
      'dbroker.installation': 'a1b2c3d4e5f6',
    })
  })

  it('a spec stored before hardening keeps its hash (no recreate on upgrade) and is still created hardened', () => {
    const {security: _security, ...legacy} = specFor('t1')
    expect(specHash(legacy)).toBe(specHash(JSON.parse(JSON.stringify(legacy))))
    expect(createOptions(legacy, 'i').HostConfig).toMatchObject({
      CapDrop: ['ALL'],
      ReadonlyRootfs: true,
      PidsLimit: 512,
    })
  })

  it('the detail shows the effective settings in one line', () => {
    const view = securityView(specFor('t1'), 'a1b2c3d4e5f6')
    expect(view).toMatchObject({
      privileged: false,
      capDrop: ['ALL'],
      memoryBytes: 64 * 1024 ** 2,
      memorySwapBytes: 64 * 1024 ** 2,
      network: 'dbroker-a1b2c3d4e5f6',
    })
    expect(confinement(view)).toBe(
      'unprivileged, caps CHOWN,DAC_OVERRIDE,FOWNER,SETGID,SETUID, read-only root (tmpfs /tmp,/run), no-new-privileges, pids 512, no swap, logs local 10M×3, network dbroker-a1b2c3d4e5f6',
    )
  })

  it('a plan loosens only what it names', () => {
    const spec = specFor(
      't1',
      '          security: {capabilities: [cap_net_bind_service, SETUID], read_only: false, tmpfs: {/var/cache/kv: 8m}, pids_limit: 2048, log: {driver: local}}',
    )
    expect(spec.security).toEqual({
      ...DEFAULT_SECURITY,
      capabilities: ['NET_BIND_SERVICE', 'SETUID'],
      readOnlyRootfs: false,
      tmpfs: {...DEFAULT_SECURITY.tmpfs, '/var/cache/kv': 8 * 1024 ** 2},
      pidsLimit: 2048,
    })
    expect(spec.logging).toEqual({driver: 'local', options: {'max-file': '3', 'max-size': '10485760'}})
    expect(planSecurity(undefined)).toBe(DEFAULT_SECURITY)
  })

  it('a bad security block is a catalog error with its path and line', () => {
    for (const [block, path, message] of [
      [
        '          security: {capabilities: [CHOWN, ROOT_ME]}',
        'services[0].plans[0].container.security.capabilities[1]',
        'is not a Linux capability',
      ],
      ['          security: {privileged: true}', 'services[0].plans[0].container.security.privileged', ''],
      ['          security: {log: {driver: syslog}}', 'services[0].plans[0].container.security.log.driver', ''],
      [
        '          security: {tmpfs: {relative: 1m}}',
        'services[0].plans[0].container.security.tmpfs.relative',
        'absolute path',
      ],
    ] as const) {
      let error: unknown
      try {
        parseCatalog(catalog(block), 'catalog.yml')
      } catch (e) {
        error = e
      }
      expect(error, block).toBeInstanceOf(CatalogError)
      const problem = (error as CatalogError).problems[0]
      expect(problem.path, block).toBe(path)
      expect(problem.line, block).toBe(
        catalog(block)
          .split('\n')
          .findIndex((l) => l.includes('security:')) + 1,
      )
      expect(problem.message).toContain(message)
    }
  })
})

describe('the log stream', () => {
  it('strips the engine’s 8-byte headers across any chunk boundaries', async () => {
    const frame = (stream: number, text: string) => {
      const payload = Buffer.from(text)
      const header = Buffer.alloc(8)
      header[0] = stream
      header.writeUInt32BE(payload.length, 4)
      return Buffer.concat([header, payload])
    }
    const all = Buffer.concat([frame(1, 'hello\n'), frame(2, 'wörld\n'), frame(1, 'x'.repeat(70_000))])
    for (const size of [1, 3, 7, 8, 9, 1000, all.length]) {
      const source = new PassThrough()
      const demux = new LogDemux()
      source.pipe(demux)
      const out: Buffer[] = []
      demux.on('data', (chunk: Buffer) => out.push(chunk))
      for (let at = 0; at < all.length; at += size) source.write(all.subarray(at, at + size))
      source.end()
      await new Promise((resolve) => demux.on('end', resolve))
      expect(Buffer.concat(out).toString('utf8'), `chunks of ${size}`).toBe(`hello\nwörld\n${'x'.repeat(70_000)}`)
    }
  })
})

describe('convergence and containers from before installation labels', () => {
  const log = createLogger('silent')
  const agentWith = (listed: ContainerState[]) => {
    const applied: string[] = []
    const agent: AgentClient = {
      apply: async (spec) => {
        applied.push(spec.instanceId)
        return {...listed[0], instanceId: spec.instanceId, status: 'running'}
      },
      remove: async () => undefined,
      exec: async () => ({exitCode: 0, output: ''}),
      restart: async () => undefined,
      list: async (options) => listed.filter((c) => options?.legacy || !c.legacy),
      facts: async () => ({
        engineVersion: '20',
        cpus: 1,
        memoryBytes: 1,
        containersRunning: 0,
        registryMirrors: [],
        insecureRegistries: [],
        loggingDriver: 'json-file',
      }),
    }
    return {agent, applied}
  }
  const state = (spec: ContainerSpec, extra: Partial<ContainerState> = {}): ContainerState => ({
    instanceId: spec.instanceId,
    containerId: `c-${spec.instanceId}`,
    name: spec.name,
    image: spec.image,
    status: 'running',
    health: 'none',
    restartCount: 0,
    specHash: specHash(spec),
    ...extra,
  })

  it('one whose name the stored spec gives is made again; one with another name is only reported', async () => {
    const mine = specFor('same-id')
    const {agent, applied} = agentWith([state(mine, {legacy: true})])
    expect((await converge(agent, [mine], log)).unknown).toEqual([])
    expect(applied).toEqual(['same-id'])

    const stranger = state({...mine, name: 'dbroker-kv-same-id'}, {legacy: true})
    const other = agentWith([stranger])
    const result = await converge(other.agent, [mine], log)
    expect(result.unknown).toEqual([stranger])
    // The instance's own container is missing: it is made under its own name, the stranger left alone.
    expect(other.applied).toEqual(['same-id'])
  })

  it('an own container that is up to date is left alone', async () => {
    const mine = specFor('same-id')
    const {agent, applied} = agentWith([state(mine)])
    await converge(agent, [mine], log)
    expect(applied).toEqual([])
  })
})

describe('the installation id', () => {
  it('is made once per store and reaches a remote agent in the register and heartbeat answers', async () => {
    const store = await openStore('sqlite::memory:')
    const other = await openStore('sqlite::memory:')
    const broker = Fastify()
    let heartbeats: ReturnType<typeof startHeartbeats> | undefined
    try {
      const installation = await store.installationId()
      expect(installation).toMatch(/^[0-9a-f]{12}$/)
      expect(await store.installationId()).toBe(installation)
      expect(await other.installationId()).not.toBe(installation)
      const log = createLogger('silent')
      const provisioner = new Provisioner({
        store,
        catalog: kvCatalog(),
        agentFor: () => new FakeAgent(),
        events: new BrokerEvents(),
        log,
        brokerId: 'b1',
        keepaliveMs: 100,
      })
      const token = newHostToken()
      await hostIdentities.enrollHost(store, 'h1', hostTokenHash(token), {replace: false})
      await broker.register(agentRoutes({store, provisioner, events: new BrokerEvents(), keepaliveMs: 100, log}))
      const url = await broker.listen({host: '127.0.0.1', port: 0})
      const told: string[] = []
      const registration = testRegistration('h1', 100)
      heartbeats = startHeartbeats({
        ...guarded(new FakeAgent()),
        registration,
        brokers: [url],
        token,
        log,
        onInstallation: (id) => told.push(id),
      })
      await heartbeats.nextBeat()
      await heartbeats.nextBeat()
      expect(told).toEqual([installation])
    } finally {
      await heartbeats?.stop()
      await broker.close()
      await store.close()
      await other.close()
    }
  })
})
