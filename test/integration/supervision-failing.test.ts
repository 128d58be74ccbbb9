import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ChangeEvent} from '../../src/core/admin.js'
import {instancesTable} from '../../src/cli/views.js'
import {redis} from '../helpers/clients.js'
import {docker} from '../helpers/docker.js'
import {expectNothingLeft, ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

const SERVICE = '7a1d0c52-93f4-4d6e-8b21-000000000001'
const CRASHING = {service_id: SERVICE, plan_id: '7a1d0c52-93f4-4d6e-8b21-000000000011'}
const FRAGILE = {service_id: SERVICE, plan_id: '7a1d0c52-93f4-4d6e-8b21-000000000012'}

/**
 * `crashing` prints its password and exits 3 at once; the engine's policy keeps restarting it. Its readiness
 * deadline (5 min) is far beyond what the story waits: a provision that waited for it would time out here.
 * `fragile` is a working redis that counts as failing after 3 deaths within 20 s.
 */
const catalogYaml = `services:
  - id: ${SERVICE}
    name: supervised
    description: redis plans the supervisor gives up on
    bindable: true
    plan_updateable: true
    plans:
      - id: ${CRASHING.plan_id}
        name: crashing
        description: exits 3 at once, every time
        maintenance_info: {version: 1.0.0}
        container: &redis
          image: dbroker/redis:7
          command: [sh, -c, 'echo "starting with password=$REDIS_PASSWORD"; exit 3']
          ports: [6379]
          volumes: [/data]
          restart: unless-stopped
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          binding_credentials: per-binding
          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 5m}
          supervision: {max_restarts: 2, window: 1m}
      - id: ${FRAGILE.plan_id}
        name: fragile
        description: a working redis, failing after 3 deaths in 20 s
        maintenance_info: {version: 1.0.0}
        container:
          <<: *redis
          command: [redis-server, /etc/redis/dbroker.conf]
          supervision: {max_restarts: 2, window: 20s}
`

describe('a container its supervisor gives up on (failing)', () => {
  let t: TestSystem
  let dir: string
  const changes: ChangeEvent[] = []
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    const catalogFile = path.join(dir, 'catalog.yml')
    writeFileSync(catalogFile, catalogYaml)
    t = await startTestSystem({catalogFile, portRange: [46400, 46429]})
    t.system.broker.events.on('change', (change) => changes.push(change))
  })
  afterAll(async () => {
    await t?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  const admin = async () => {
    const {username, password} = t.system.adminCredentials
    const response = await fetch(new URL('/admin/v1/instances?stats=false', t.system.url), {
      headers: {authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`},
    })
    return (await response.json()) as Parameters<typeof instancesTable>[0]
  }

  it('a provision whose container keeps dying fails with its exit code and last output, secrets blanked, long before its deadline', async () => {
    const id = testId()
    const started = await t.osb.provision(id, {...CRASHING, ...ORG}, true)
    expect(started.status).toBe(202)
    // Far less than the plan's 5 min readiness deadline.
    const last = await t.osb.waitFor(id, started.body.operation, undefined, 60_000)
    expect(last.body.state).toBe('failed')
    expect(last.body.description).toMatch(
      /keeps failing \(\d+ restarts\); it last exited with code 3 before it was ready/,
    )
    expect(last.body.description).toContain('starting with password=********')
    expect(last.body.description).not.toMatch(/password=(?!\*)\S/)
    await expectNothingLeft(t, id)
  })

  it('a running instance that dies too often is failing in the admin API, `instances` and the change events, then recovers', async () => {
    const id = testId()
    expect((await t.osb.provision(id, {...FRAGILE, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(id, testId('b'), FRAGILE)
    const {uri} = bound.body.credentials as {uri: string}
    const name = (await t.system.store.getInstance(id))!.spec.name

    // Deaths in a row, each once it runs again (the engine's policy or the supervisor started it), until the
    // supervisor says failing: three within 20 s are enough, but a death while the supervisor's own restart is
    // still under way counts as that restart's, so a busy machine may need one or two more.
    let failing: Awaited<ReturnType<typeof admin>>[number] | undefined
    for (let kill = 0; kill < 8 && !failing; kill++) {
      const info = await until('redis running', async () => {
        const now = await docker.getContainer(name).inspect()
        return now.State.Running && !now.State.Restarting && now.State.Pid > 0 && now
      })
      process.kill(info.State.Pid, 'SIGKILL')
      await until(
        'the death seen',
        async () =>
          (await docker.getContainer(name).inspect()).State.StartedAt !== info.State.StartedAt ||
          !(await docker.getContainer(name).inspect()).State.Running,
      )
      if (kill >= 2)
        failing = await until(
          'failing in the admin API',
          async () => (await admin()).find((i) => i.id === id && i.container?.failing),
          3_000,
        ).catch(() => undefined)
    }
    if (!failing) throw new Error('eight deaths within seconds, and the admin API never said failing')
    expect(failing.container).toMatchObject({failing: true, lastExitCode: 137})
    expect(instancesTable([failing])).toMatch(/failing.*137/s)
    await until('the failing event', () =>
      changes.find(
        (c) => c.id === id && c.action === 'failing' && /exited with code 137, \d+ restart/.test(c.description ?? ''),
      ),
    )

    // Its failures age out (20 s): the supervisor's verdict ends, and the engine's policy kept it serving.
    await until('the recovered event', () => changes.find((c) => c.id === id && c.action === 'recovered'), 45_000)
    expect((await admin()).find((i) => i.id === id)?.container?.failing).toBeUndefined()
    await until('PING with the binding', () => redis(uri, 'PING') === 'PONG')
    expect((await t.osb.deprovision(id, FRAGILE)).status).toBe(200)
  })
})
