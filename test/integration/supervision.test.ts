import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {DockerAgent} from '../../src/agent/docker-agent.js'
import {type SupervisedHost, superviseHost} from '../../src/agent/supervised-host.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec} from '../../src/core/types.js'
import {connectEngine} from '../../src/docker/engine.js'
import {redis} from '../helpers/clients.js'
import {docker, removeInstallationNetwork, removeLabelled} from '../helpers/docker.js'
import {containerSpec} from '../helpers/fake-agent.js'
import {ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

/** Kills the container's main process from the host, as a crash or the OOM killer would. */
async function killMainProcess(name: string): Promise<string> {
  const info = await docker.getContainer(name).inspect()
  process.kill(info.State.Pid, 'SIGKILL')
  return info.State.StartedAt
}

/** How long after its start the dependency of these stories is ready. */
const READY_AFTER_MS = 3000

const startedAt = async (name: string) => Date.parse((await docker.getContainer(name).inspect()).State.StartedAt)
const running = async (name: string) => (await docker.getContainer(name).inspect()).State.Running

describe('a service whose main process is killed', () => {
  let t: TestSystem
  beforeAll(async () => {
    t = await startTestSystem({portRange: [47300, 47349]})
  })
  afterAll(async () => {
    await t?.close()
  })
  const adminInstances = async () => {
    const admin = t.system.adminCredentials
    return (await (
      await fetch(new URL('/admin/v1/instances?stats=false', t.system.url), {
        headers: {authorization: `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`},
      })
    ).json()) as Array<{id: string; container: {restartCount: number; lastExitCode?: number; failing?: boolean}}>
  }

  /** A redis instance with a binding that wrote `k`: its id, binding URI and container name. */
  const boundRedis = async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(id, testId('b'), {...REDIS})
    expect(bound.status).toBe(201)
    const {uri} = bound.body.credentials as {uri: string}
    expect(redis(uri, 'SET', 'k', 'v')).toBe('OK')
    return {id, uri, name: (await t.system.store.getInstance(id))!.spec.name}
  }

  it('kill -9 of redis from the host: serving again with the binding credentials, restart count 1 in the admin API', async () => {
    const {id, uri, name} = await boundRedis()

    const before = await killMainProcess(name)
    await vi.waitFor(
      async () => {
        expect((await docker.getContainer(name).inspect()).State.StartedAt).not.toBe(before)
        expect(redis(uri, 'PING')).toBe('PONG')
      },
      {timeout: 15_000, interval: 50},
    )

    const view = (await adminInstances()).find((i) => i.id === id)
    expect(view?.container.restartCount).toBe(1)
    expect(view?.container.lastExitCode).toBe(137)
    expect(view?.container.failing).toBeUndefined()
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
  })

  it('redis that stops answering (every client paused): unhealthy, restarted by the agent, serving its keys again', async () => {
    const {id, uri, name} = await boundRedis()
    await vi.waitFor(
      async () => expect((await docker.getContainer(name).inspect()).State.Health?.Status).toBe('healthy'),
      {
        timeout: 60_000,
        interval: 200,
      },
    )
    const before = await startedAt(name)
    // The server runs but answers no one, its health check included: the engine never restarts an unhealthy container.
    execFileSync('docker', ['exec', name, '/dbroker/admin-cli', 'CLIENT', 'PAUSE', '300000', 'ALL'])
    await vi.waitFor(
      async () => {
        expect(await startedAt(name)).toBeGreaterThan(before)
        expect(redis(uri, 'GET', 'k')).toBe('v')
      },
      {timeout: 60_000, interval: 200},
    )
    // Counted by the agent's supervisor: the engine restarted nothing.
    expect((await adminInstances()).find((i) => i.id === id)?.container.restartCount).toBe(1)
    expect((await t.osb.deprovision(id, REDIS)).status).toBe(200)
  }, 120_000)
})

describe('supervision through the in-process agent', () => {
  const installation = randomBytes(6).toString('hex')
  const log = createLogger(process.env.DBROKER_TEST_LOG ? 'debug' : 'silent')
  let host: SupervisedHost
  const ids: string[] = []
  const specOf = (command: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => {
    const instanceId = testId()
    ids.push(instanceId)
    return containerSpec(instanceId, {
      name: `dbroker-sup-${instanceId}`,
      image: 'debian:bookworm-slim',
      command: ['sh', '-c', command],
      // Ready at once: without a probe a `restart: no` container is a job, ready only once it ended.
      readiness: {probe: 'exec', command: ['true'], timeoutMs: 10_000},
      ...extra,
    })
  }
  // Stops at once on the SIGTERM a restart sends.
  const idle = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
  /**
   * A dependency that is ready (its probe: /tmp/ready) no sooner than READY_AFTER_MS after it starts, and that
   * ignores SIGTERM while it starts up, as a shell entrypoint does: a dependent started after it was ready started
   * that long after it (longer than a restart of the dependent takes on a loaded machine, so one that did not wait
   * shows).
   */
  const slowDb = (extra: Partial<ContainerSpec> = {}) =>
    specOf(
      `trap '' TERM; sleep ${READY_AFTER_MS / 1000}; touch /tmp/ready; trap 'exit 0' TERM; while :; do sleep 0.1; done`,
      {
        readiness: {probe: 'exec', command: ['test', '-f', '/tmp/ready'], timeoutMs: 30_000},
        ...extra,
      },
    )
  /** The engine's start events of a container from now on. */
  const startsOf = async (name: string) => {
    const events = await docker.getEvents({filters: {container: [name], event: ['start']}})
    let count = 0
    events.on('data', (chunk: Buffer) => (count += chunk.toString().split('\n').filter(Boolean).length))
    return {count: () => count, stop: () => (events as unknown as {destroy(): void}).destroy()}
  }

  beforeAll(() => {
    host = superviseHost(new DockerAgent(connectEngine(), {installation}), log)
    host.watch(installation)
  })
  afterAll(async () => {
    await host?.stop()
    await removeLabelled(ids, installation)
    await removeInstallationNetwork(installation)
  })

  it('dependents start after their dependency is ready and are restarted after it is ready again when it is killed', async () => {
    const db = slowDb()
    const apps = [specOf(idle, {dependsOn: [db.instanceId]}), specOf(idle, {dependsOn: [db.instanceId]})]
    host.loop.want({specs: [...apps, db], asOf: host.agent.currentGeneration()})
    await host.loop.settled()
    for (const app of apps)
      expect(await startedAt(app.name)).toBeGreaterThanOrEqual((await startedAt(db.name)) + READY_AFTER_MS)

    const dbBefore = await startedAt(db.name)
    await killMainProcess(db.name)
    await vi.waitFor(
      async () => {
        const dbStart = await startedAt(db.name)
        // Right after the kill the old start still reads as running, and its dependents as started after it.
        expect(dbStart).toBeGreaterThan(dbBefore)
        expect(await running(db.name)).toBe(true)
        for (const app of apps) {
          expect(await running(app.name)).toBe(true)
          expect(await startedAt(app.name)).toBeGreaterThanOrEqual(dbStart + READY_AFTER_MS)
        }
      },
      {timeout: 20_000, interval: 50},
    )
    const states = await host.agent.list()
    expect(states.find((s) => s.instanceId === db.instanceId)).toMatchObject({restartCount: 1, lastExitCode: 137})
  })

  it("killed, a dependency the engine's policy restarts is started once, not restarted again by the agent; its dependents after it is ready", async () => {
    const db = slowDb({restart: 'unless-stopped'})
    const app = specOf(idle, {dependsOn: [db.instanceId], restart: 'unless-stopped'})
    host.loop.want({specs: [...(host.loop.latest?.specs ?? []), db, app], asOf: host.agent.currentGeneration()})
    await host.loop.settled()
    const appBefore = await startedAt(app.name)
    const starts = await startsOf(db.name)
    try {
      await killMainProcess(db.name)
      await vi.waitFor(
        async () => {
          expect(await running(app.name)).toBe(true)
          expect(await startedAt(app.name)).toBeGreaterThan(appBefore)
        },
        {timeout: 30_000, interval: 50},
      )
      // A restart racing the engine's own start would stop the new process (SIGTERM it ignores: the whole grace)
      // and start it a second time; the dependent would wait for all of that.
      expect(starts.count()).toBe(1)
      expect(await startedAt(app.name)).toBeGreaterThanOrEqual((await startedAt(db.name)) + READY_AFTER_MS)
    } finally {
      starts.stop()
    }
  })

  it('a dependent is restarted after its dependency is ready also when the engine restarted it by its own policy', async () => {
    const db = slowDb({restart: 'always'})
    const app = specOf(idle, {dependsOn: [db.instanceId]})
    host.loop.want({specs: [...(host.loop.latest?.specs ?? []), db, app], asOf: host.agent.currentGeneration()})
    await host.loop.settled()
    const appBefore = await startedAt(app.name)

    // Behind the agent's back, as the engine's restart policy does it: the agent did not start it.
    await docker.getContainer(db.name).restart({t: 0})
    await vi.waitFor(
      async () => {
        expect(await startedAt(app.name)).toBeGreaterThan(appBefore)
        expect(await startedAt(app.name)).toBeGreaterThanOrEqual((await startedAt(db.name)) + READY_AFTER_MS)
      },
      {timeout: 15_000, interval: 50},
    )
  })

  it('a container that keeps dying is failing after maxRestarts, with its last exit code', async () => {
    const crashing = specOf('exit 3', {supervision: {maxRestarts: 2, windowMs: 60_000}})
    host.loop.want({specs: [...(host.loop.latest?.specs ?? []), crashing], asOf: host.agent.currentGeneration()})
    await vi.waitFor(
      async () => {
        const state = (await host.agent.list()).find((s) => s.instanceId === crashing.instanceId)
        expect(state).toMatchObject({failing: true, lastExitCode: 3, restartCount: 2})
      },
      {timeout: 20_000, interval: 100},
    )
    // Failing: the supervisor and the loop leave it alone.
    expect(host.supervisor.held(crashing.instanceId)).toBe(true)
  })

  it('a container the kernel kills for memory is restarted, and says it was an OOM kill with exit code 137', async () => {
    // tail keeps a line until its end: 64 MB of zeros without a newline, in a 16 MB container; the shell exits as tail did.
    const hungry = specOf('head -c 64M /dev/zero | tail', {
      memoryBytes: 16 * 1024 * 1024,
      supervision: {maxRestarts: 1, windowMs: 60_000},
    })
    host.loop.want({specs: [...(host.loop.latest?.specs ?? []), hungry], asOf: host.agent.currentGeneration()})
    await vi.waitFor(
      async () => {
        const state = (await host.agent.list()).find((s) => s.instanceId === hungry.instanceId)
        expect(state).toMatchObject({oomKilled: true, lastExitCode: 137})
        expect(state?.restartCount).toBeGreaterThanOrEqual(1)
      },
      {timeout: 30_000, interval: 100},
    )
  })
})
