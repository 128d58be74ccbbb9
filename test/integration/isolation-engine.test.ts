import {createHash} from 'node:crypto'
import {appendFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DockerAgent} from '../../src/agent/docker-agent.js'
import {DEFAULT_SECURITY} from '../../src/core/security.js'
import type {ContainerSpec} from '../../src/core/types.js'
import {connectEngine, specHash} from '../../src/docker/engine.js'
import {openStore} from '../../src/store/index.js'
import {psql, redis} from '../helpers/clients.js'
import {docker, labelled, removeLabelled} from '../helpers/docker.js'
import {ORG, POSTGRES, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

type Credentials = {uri: string; username: string; password: string; port: number}

const oneContainer = async (id: string, installation: string) => {
  const {containers} = await labelled(id, installation)
  expect(containers, `containers of ${id}`).toHaveLength(1)
  return docker.getContainer(containers[0].Id).inspect()
}
const volumesOf = (info: {Mounts: Array<{Type?: string; Name?: string}>}) =>
  info.Mounts.filter((m) => m.Type === 'volume').map((m) => m.Name!)

/** Runs a command in a container; its exit code and output. */
async function execIn(containerId: string, command: string[]): Promise<{exitCode: number; output: string}> {
  const exec = await docker.getContainer(containerId).exec({Cmd: command, AttachStdout: true, AttachStderr: true})
  const stream = await exec.start({hijack: true, stdin: false})
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  await new Promise((resolve) => stream.on('end', resolve))
  return {exitCode: (await exec.inspect()).ExitCode ?? -1, output: Buffer.concat(chunks).toString('latin1')}
}

/** A client's answer, or '' while the service is not back. */
const answer = (query: () => string) => {
  try {
    return query()
  } catch {
    return ''
  }
}

const adminGet = (t: TestSystem, path: string) =>
  fetch(new URL(`/admin/v1${path}`, t.system.url), {
    headers: {
      authorization: `Basic ${Buffer.from(`${t.system.adminCredentials.username}:${t.system.adminCredentials.password}`).toString('base64')}`,
    },
  })

describe('instances on one engine stay apart', () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({portRange: [46800, 46849]})
  })
  afterAll(async () => {
    await t?.close()
  })

  it('an id that hashes to another instance’s literal id does not get its volume; the agent refuses to mount, recreate or remove what another instance owns', async () => {
    const victim = `${testId()} pg victim`
    // The name the previous version gave an id that is not a slug: the first 16 hex digits of its SHA-256.
    const attacker = createHash('sha256').update(victim).digest('hex').slice(0, 16)
    expect((await t.osb.provision(victim, {...POSTGRES, ...ORG})).status).toBe(201)
    const db = (await t.osb.bind(victim, testId('b'), {...POSTGRES})).body.credentials as Credentials
    psql(db.uri, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('victim data')")
    expect((await t.osb.provision(attacker, {...REDIS, ...ORG})).status).toBe(201)

    const victimInfo = await oneContainer(victim, t.system.installationId)
    const attackerInfo = await oneContainer(attacker, t.system.installationId)
    const victimVolumes = volumesOf(victimInfo)
    expect(victimVolumes).toHaveLength(1)
    expect(volumesOf(attackerInfo).filter((v) => victimVolumes.includes(v))).toEqual([])
    expect(attackerInfo.Name).not.toBe(victimInfo.Name)
    expect((await docker.getVolume(victimVolumes[0]).inspect()).Labels).toMatchObject({
      'dbroker.instance': victim,
      'dbroker.installation': t.system.installationId,
    })

    // An agent asked for a spec that names the victim's volume or container (as an old stored spec could) refuses, naming the owner.
    const agent = new DockerAgent(connectEngine(), {installation: t.system.installationId})
    const stored = (await t.system.store.getInstance(attacker))!.spec
    const stealVolume: ContainerSpec = {...stored, volumes: [{name: victimVolumes[0], path: '/data'}]}
    await expect(agent.apply(stealVolume)).rejects.toThrow(
      `refusing to mount volume ${victimVolumes[0]} into instance ${attacker}: it belongs to instance ${victim}`,
    )
    const stealName: ContainerSpec = {...stored, name: victimInfo.Name.replace(/^\//, '')}
    await expect(agent.apply(stealName)).rejects.toThrow(`it belongs to instance ${victim}; it is left alone`)
    expect((await docker.getContainer(victimInfo.Id).inspect()).State.Running).toBe(true)

    // What the previous version left after the attack: a container of another instance with the victim's volume. It is stopped.
    const leftoverId = testId()
    const leftoverSpec: ContainerSpec = {
      ...stored,
      instanceId: leftoverId,
      name: `dbroker-test-leftover-${leftoverId}`,
      volumes: [],
    }
    const leftover = await docker.createContainer({
      name: leftoverSpec.name,
      Image: attackerInfo.Config.Image,
      Cmd: ['sleep', 'infinity'],
      Labels: {...attackerInfo.Config.Labels, 'dbroker.instance': leftoverId},
      HostConfig: {Mounts: [{Type: 'volume', Source: victimVolumes[0], Target: '/data'}]},
    })
    try {
      await leftover.start()
      await expect(agent.apply(leftoverSpec)).rejects.toThrow(
        `it belongs to instance ${victim}; its container ${leftoverSpec.name}, which had it mounted, is stopped`,
      )
      expect((await leftover.inspect()).State.Running).toBe(false)
    } finally {
      await leftover.remove({force: true})
    }

    // A container of another instance that mounts the victim's volume (made behind dbroker's back): removing it leaves the volume.
    const intruder = testId()
    await docker.createContainer({
      name: `dbroker-test-intruder-${intruder}`,
      Image: 'dbroker/redis:7',
      Cmd: ['sleep', 'infinity'],
      Labels: {'dbroker.instance': intruder, 'dbroker.installation': t.system.installationId},
      HostConfig: {Mounts: [{Type: 'volume', Source: victimVolumes[0], Target: '/stolen'}]},
    })
    try {
      await expect(agent.remove(intruder)).rejects.toThrow(
        `left alone volume ${victimVolumes[0]} (it belongs to instance ${victim})`,
      )
      expect((await labelled(intruder)).containers).toHaveLength(0)
    } finally {
      await removeLabelled([intruder], t.system.installationId)
    }
    expect(psql(db.uri, 'SELECT v FROM secrets')).toBe('victim data')

    expect((await t.osb.deprovision(attacker, REDIS)).status).toBe(200)
    expect(psql(db.uri, 'SELECT v FROM secrets')).toBe('victim data')
    expect((await t.osb.deprovision(victim, POSTGRES)).status).toBe(200)
    expect(await labelled(victim)).toEqual({containers: [], volumes: []})
  })

  it('docker inspect shows every instance confined — and redis and postgresql still provision, bind and answer real clients', async () => {
    const cache = testId()
    const db = testId()
    const [r, p] = await Promise.all([
      t.osb.provision(cache, {...REDIS, ...ORG}),
      t.osb.provision(db, {...POSTGRES, ...ORG}),
    ])
    expect([r.status, p.status]).toEqual([201, 201])
    const cacheBinding = (await t.osb.bind(cache, testId('b'), {...REDIS})).body.credentials as Credentials
    const dbBinding = (await t.osb.bind(db, testId('b'), {...POSTGRES})).body.credentials as Credentials
    expect(redis(cacheBinding.uri, 'PING')).toBe('PONG')
    expect(redis(cacheBinding.uri, 'SET', 'k', 'v')).toBe('OK')
    expect(psql(dbBinding.uri, 'SELECT 1')).toBe('1')
    psql(dbBinding.uri, "CREATE TABLE t (v text); INSERT INTO t VALUES ('x')")

    for (const id of [cache, db]) {
      const info = await oneContainer(id, t.system.installationId)
      const h = info.HostConfig
      expect(h.Privileged).toBe(false)
      expect(h.CapDrop).toEqual(['ALL'])
      expect([...(h.CapAdd ?? [])].sort()).toEqual(DEFAULT_SECURITY.capabilities)
      expect(h.SecurityOpt).toContain('no-new-privileges')
      expect(h.PidsLimit).toBe(512)
      expect(h.Memory).toBeGreaterThan(0)
      expect(h.MemorySwap).toBe(h.Memory)
      expect(h.ReadonlyRootfs).toBe(true)
      expect(Object.keys(h.Tmpfs ?? {}).sort()).toEqual(['/run', '/tmp'])
      expect(h.LogConfig).toEqual({Type: 'local', Config: {'max-size': String(10 * 1024 ** 2), 'max-file': '3'}})
      expect(h.NetworkMode).toBe(`dbroker-${t.system.installationId}`)
      expect(info.Config.Labels['dbroker.installation']).toBe(t.system.installationId)
      // The root file system really is read-only, /tmp is not.
      expect((await execIn(info.Id, ['touch', '/etc/dbroker-was-here'])).exitCode).not.toBe(0)
      expect((await execIn(info.Id, ['touch', '/tmp/scratch'])).exitCode).toBe(0)

      const detail = (await (await adminGet(t, `/instances/${encodeURIComponent(id)}`)).json()) as {
        security: Record<string, unknown>
      }
      expect(detail.security).toMatchObject({
        privileged: false,
        capDrop: ['ALL'],
        capabilities: DEFAULT_SECURITY.capabilities,
        noNewPrivileges: true,
        readOnlyRootfs: true,
        pidsLimit: 512,
        memoryBytes: h.Memory,
        memorySwapBytes: h.Memory,
        logging: {driver: 'local', options: {'max-size': String(10 * 1024 ** 2), 'max-file': '3'}},
        network: h.NetworkMode,
      })
    }
    // A restart (the entrypoints run again over existing data) works confined too.
    await docker.getContainer((await oneContainer(db, t.system.installationId)).Id).restart({t: 10})
    await docker.getContainer((await oneContainer(cache, t.system.installationId)).Id).restart({t: 10})
    await expect
      .poll(() => answer(() => redis(cacheBinding.uri, 'GET', 'k')), {timeout: 60_000, interval: 250})
      .toBe('v')
    await expect
      .poll(() => answer(() => psql(dbBinding.uri, 'SELECT v FROM t')), {timeout: 60_000, interval: 250})
      .toBe('x')

    expect((await t.osb.deprovision(cache, REDIS)).status).toBe(200)
    expect((await t.osb.deprovision(db, POSTGRES)).status).toBe(200)
  })

  it('a shell in one instance’s container cannot open a TCP connection to another instance’s container', async () => {
    const [a, b] = [testId(), testId()]
    const results = await Promise.all([a, b].map((id) => t.osb.provision(id, {...REDIS, ...ORG})))
    expect(results.map((r) => r.status)).toEqual([201, 201])
    const [infoA, infoB] = [
      await oneContainer(a, t.system.installationId),
      await oneContainer(b, t.system.installationId),
    ]
    // Both on the installation's one network (parallel provisions never make it twice).
    const named = (await docker.listNetworks({filters: {name: [`dbroker-${t.system.installationId}`]}})).filter(
      (n) => n.Name === `dbroker-${t.system.installationId}`,
    )
    expect(named).toHaveLength(1)
    expect(named[0].Options).toMatchObject({'com.docker.network.bridge.enable_icc': 'false'})
    const ipOf = (info: typeof infoA) => Object.values(info.NetworkSettings.Networks)[0].IPAddress
    const connect = (from: string, ip: string) =>
      execIn(from, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/6379 && echo connected`])
    // The probe works: a container reaches its own address.
    expect((await connect(infoB.Id, ipOf(infoB))).output).toContain('connected')
    const across = await connect(infoA.Id, ipOf(infoB))
    expect(across.output).not.toContain('connected')
    expect(across.exitCode).not.toBe(0)
    // The published port on the service address stays the way in.
    const binding = (await t.osb.bind(b, testId('b'), {...REDIS})).body.credentials as Credentials
    expect(redis(binding.uri, 'PING')).toBe('PONG')
    for (const id of [a, b]) expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
  })

  it('a 20 MB log streams through the admin route without the broker holding it', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const info = await oneContainer(id, t.system.installationId)
    // 20,000 lines of 1,000 bytes as a chatty server's stdout, appended where the local driver (the default) keeps them.
    const root = ((await docker.info()) as {DockerRootDir: string}).DockerRootDir
    const entry = localLogEntry('x'.repeat(999))
    appendFileSync(
      path.join(root, 'containers', info.Id, 'local-logs', 'container.log'),
      Buffer.concat(Array(20_000).fill(entry)),
    )

    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 5)
    let bytes = 0
    try {
      const response = await adminGet(t, `/instances/${encodeURIComponent(id)}/logs`)
      expect(response.status).toBe(200)
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length
        peak = Math.max(peak, process.memoryUsage().rss)
      }
    } finally {
      clearInterval(sampler)
    }
    const growthMb = (peak - before) / 1024 ** 2
    console.log(
      `admin logs route: ${(bytes / 1024 ** 2).toFixed(1)} MB streamed, process RSS ${(before / 1024 ** 2).toFixed(0)} MB -> peak ${(peak / 1024 ** 2).toFixed(0)} MB (+${growthMb.toFixed(1)} MB)`,
    )
    expect(bytes).toBeGreaterThan(20_000_000)
    expect(growthMb).toBeLessThan(40)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
  })
})

/** One stdout line as the engine's local driver frames it: a LogEntry protobuf (source, time_nano, line) between two lengths. */
function localLogEntry(text: string): Buffer {
  const varint = (n: bigint) => {
    const bytes: number[] = []
    do {
      bytes.push(Number(n & 0x7fn) | (n > 0x7fn ? 0x80 : 0))
      n >>= 7n
    } while (n > 0n)
    return Buffer.from(bytes)
  }
  const line = Buffer.from(text)
  const source = Buffer.from('stdout')
  const proto = Buffer.concat([
    Buffer.from([0x0a, source.length]),
    source,
    Buffer.from([0x10]),
    varint(BigInt(Date.now()) * 1_000_000n),
    Buffer.from([0x1a]),
    varint(BigInt(line.length)),
    line,
  ])
  const size = Buffer.alloc(4)
  size.writeUInt32BE(proto.length)
  return Buffer.concat([size, proto, size])
}

/** A redis instance of `t` with a key written through a binding: its credentials, container and stored spec. */
async function redisWithData(t: TestSystem, id: string) {
  expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
  const binding = (await t.osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
  expect(redis(binding.uri, 'SET', 'kept', 'yes')).toBe('OK')
  return {
    binding,
    made: await oneContainer(id, t.system.installationId),
    spec: (await t.system.store.getInstance(id))!.spec,
  }
}

/** Replaces an instance's container with what the previous version made of `spec`: no installation label, not confined. */
async function replaceWithLegacy(made: Awaited<ReturnType<typeof oneContainer>>, spec: ContainerSpec) {
  const {'dbroker.installation': _installation, ...oldLabels} = made.Config.Labels
  await docker.getContainer(made.Id).remove({force: true})
  const legacy = await docker.createContainer({
    name: spec.name,
    Image: made.Config.Image,
    Cmd: spec.command,
    Env: made.Config.Env,
    Labels: {...oldLabels, 'dbroker.spec': specHash(spec)},
    HostConfig: {
      PortBindings: made.HostConfig.PortBindings,
      Mounts: spec.volumes.map((v) => ({Type: 'volume' as const, Source: v.name, Target: v.path})),
    },
  })
  await legacy.start()
  return legacy
}

describe('two installations on one engine with equal instance ids', () => {
  let a: TestSystem
  let b: TestSystem
  let dataDirA: string
  beforeAll(async () => {
    a = await startTestSystem({portRange: [46850, 46874]})
    dataDirA = a.dataDir
    b = await startTestSystem({portRange: [46875, 46899]})
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    // A restarted on its own data dir (the legacy stories): the first system's dir is not removed by a later one's close.
    if (dataDirA) rmSync(dataDirA, {recursive: true, force: true})
  })

  it('neither adopts, recreates, mounts nor removes the other’s container or volume', async () => {
    const id = testId()
    expect((await a.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const inA = (await a.osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
    expect(redis(inA.uri, 'SET', 'owner', 'a')).toBe('OK')
    const containerA = await oneContainer(id, a.system.installationId)

    expect((await b.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const inB = (await b.osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
    const containerB = await oneContainer(id, b.system.installationId)
    expect(containerB.Id).not.toBe(containerA.Id)
    expect(volumesOf(containerB).filter((v) => volumesOf(containerA).includes(v))).toEqual([])
    expect(redis(inB.uri, 'GET', 'owner')).toBe('')
    expect(redis(inB.uri, 'SET', 'owner', 'b')).toBe('OK')
    expect(a.system.installationId).not.toBe(b.system.installationId)

    // Several converge passes of both (keepalive 1 s): a fixed wait, to show nothing changes.
    await sleep(3500)
    const stillA = await docker.getContainer(containerA.Id).inspect()
    expect(stillA.State.Running).toBe(true)
    expect(stillA.State.StartedAt).toBe(containerA.State.StartedAt)
    expect(redis(inA.uri, 'GET', 'owner')).toBe('a')
    const agentA = new DockerAgent(connectEngine(), {installation: a.system.installationId})
    expect((await agentA.list()).filter((c) => c.instanceId === id).map((c) => c.containerId)).toEqual([containerA.Id])

    expect((await a.osb.deprovision(id, REDIS)).status).toBe(200)
    expect(await labelled(id, a.system.installationId)).toEqual({containers: [], volumes: []})
    const stillB = await docker.getContainer(containerB.Id).inspect()
    expect(stillB.State.Running).toBe(true)
    expect(redis(inB.uri, 'GET', 'owner')).toBe('b')
    expect((await labelled(id, b.system.installationId)).volumes).toHaveLength(1)
    expect((await b.osb.deprovision(id, REDIS)).status).toBe(200)
  })

  it('a container from before installation labels is adopted only by the installation whose stored spec names it, and made again labelled', async () => {
    const id = testId()
    const {binding: inA, made, spec} = await redisWithData(a, id)
    // A stops; the container is swapped for what the previous version made of the same spec; A starts again.
    await a.system.close()
    const legacy = await replaceWithLegacy(made, spec)
    const agentB = new DockerAgent(connectEngine(), {installation: b.system.installationId})
    // B does not know the instance: it neither lists it as its own nor touches it.
    expect((await agentB.list()).map((c) => c.instanceId)).not.toContain(id)
    await expect(agentB.remove(id)).resolves.toBeUndefined()
    expect((await legacy.inspect()).State.Running).toBe(true)
    a = await startTestSystem({dataDir: a.dataDir, portRange: [46850, 46874]})
    // A's converger makes it again with A's label, on A's network, with the same volume and data.
    await expect
      .poll(
        async () =>
          (await labelled(id, a.system.installationId)).containers.filter((c) => c.State === 'running').length,
        {timeout: 60_000, interval: 250},
      )
      .toBe(1)
    const again = await oneContainer(id, a.system.installationId)
    expect(again.Id).not.toBe(legacy.id)
    expect(volumesOf(again)).toEqual(spec.volumes.map((v) => v.name))
    await expect.poll(() => answer(() => redis(inA.uri, 'GET', 'kept')), {timeout: 60_000, interval: 250}).toBe('yes')
    expect((await a.osb.deprovision(id, REDIS)).status).toBe(200)
  })

  it('one from before whose image cannot run confined is brought back as it was, and not tried again on every beat', async () => {
    const id = testId()
    const {binding: inA, made, spec: stored} = await redisWithData(a, id)
    // The previous version's state, as the new one finds it on start: an old stored spec whose command writes to the root
    // file system (no restart policy, so a confined container stays down at once), and the container made of it.
    await a.system.close()
    const command = [
      'bash',
      '-c',
      'touch /predates-read-only-root && exec /dbroker/entrypoint redis-server /etc/redis/dbroker.conf',
    ]
    const {security: _security, ...old} = {...stored, command, restart: 'no' as const}
    const store = await openStore(`sqlite:${path.join(a.dataDir, 'dbroker.db')}`)
    await store.updateInstance(id, {spec: old})
    await store.close()
    const legacy = await replaceWithLegacy(made, old)
    const startedAt = (await legacy.inspect()).State.StartedAt
    a = await startTestSystem({dataDir: a.dataDir, portRange: [46850, 46874]})
    // The first converge tried the confined container, which exited; the old one is back under its name, with its data.
    const now = await legacy.inspect()
    expect(now.State.Running).toBe(true)
    expect(now.Name).toBe(`/${stored.name}`)
    expect(now.State.StartedAt).not.toBe(startedAt)
    expect((await labelled(id, a.system.installationId)).containers.map((c) => c.Id)).toEqual([])
    await expect.poll(() => answer(() => redis(inA.uri, 'GET', 'kept')), {timeout: 30_000, interval: 250}).toBe('yes')
    // A fixed wait over several beats, to show it is not stopped and tried again.
    await sleep(3500)
    expect((await legacy.inspect()).State.StartedAt).toBe(now.State.StartedAt)
    expect((await a.osb.deprovision(id, REDIS)).status).toBe(200)
    expect(await labelled(id)).toEqual({containers: [], volumes: []})
  })
})
