import {describe, expect, it} from 'vitest'

import {specHash} from '../../src/core/spec-hash.js'
import type {Host, PortMapping} from '../../src/core/types.js'
import {diffDeployment, formatDiff} from '../../src/manifest/diff.js'
import {parseManifest} from '../../src/manifest/index.js'
import {type DeploymentSpecs, isDeploymentKey, parseDeploymentKey, toSpecs} from '../../src/manifest/specs.js'

const host = (id: string): Host => ({
  id,
  serviceAddress: '10.0.0.1',
  bindAddress: '10.0.0.1',
  agentUrl: null,
  portMin: 41000,
  portMax: 41099,
  status: 'alive',
  drained: false,
  zone: null,
  labels: {},
  facts: null,
  lastHeartbeat: 0,
  capacity: {maxContainers: null, memoryBytes: null},
  keepaliveMs: null,
})
const hosts = new Map(['h1', 'h2'].map((id) => [id, host(id)]))

/** A port allocator like the store's: the next free port of the host's range, recorded per call. */
function allocator() {
  const calls: Array<{host: string; key: string; ports: number[]}> = []
  let next = 41000
  const allocate = async (h: Host, key: string, containerPorts: number[]): Promise<PortMapping[]> => {
    calls.push({host: h.id, key, ports: containerPorts})
    return containerPorts.map((container) => ({container, host: next++, protocol: 'tcp' as const}))
  }
  return {calls, allocate}
}

/** The three containers of the issue's test: web depends on app, app on redis. */
const manifest = (edit: {redis?: string; app?: string; web?: string | null; h2?: string} = {}) => `name: shop
hosts:
  - name: h1
    containers:
      - name: redis
        image: ${edit.redis ?? 'dbroker/redis:7'}
        ports: ["127.0.0.1:6379:6379"]
        volumes: [/data]
      - name: app
        image: example/app:1
        env: {REDIS_HOST: redis, PASSWORD: hunter2}
        depends_on: [redis]
${edit.app ?? ''}
${
  edit.web === null
    ? ''
    : `      - name: web
        image: example/web:1
        ports: ["8080"]
        depends_on: [${edit.web ?? 'app'}]
`
}${edit.h2 ?? ''}`

async function specsOf(text: string, previous?: DeploymentSpecs, alloc = allocator()): Promise<DeploymentSpecs> {
  return toSpecs(parseManifest(text, 'manifest.yml'), {hosts, allocate: alloc.allocate, previous})
}

describe('manifest containers as agent specs', () => {
  it('are ContainerSpecs keyed deploy:<deployment>:<host>:<container>, labelled as deployment containers', async () => {
    const alloc = allocator()
    const specs = await specsOf(manifest(), undefined, alloc)
    const [redis, app, web] = specs.hosts.h1
    expect(redis).toMatchObject({
      instanceId: 'deploy:shop:h1:redis',
      name: 'dbroker.shop.redis',
      image: 'dbroker/redis:7',
      ports: [{container: 6379, host: 6379, protocol: 'tcp'}],
      bindAddress: '127.0.0.1',
      volumes: [{name: expect.stringMatching(/^dbroker\.shop\.redis\.[0-9a-f]{8}$/), path: '/data'}],
      labels: {'dbroker.deployment': 'shop', 'dbroker.container': 'redis', 'dbroker.host': 'h1'},
      restart: 'unless-stopped',
      readiness: {probe: 'none', timeoutMs: 0},
    })
    expect(app.dependsOn).toEqual(['deploy:shop:h1:redis'])
    expect(Object.keys(app.env)).toEqual(['PASSWORD', 'REDIS_HOST'])
    // Only web asked for a port from the range; the fixed one is not the allocator's.
    expect(alloc.calls).toEqual([{host: 'h1', key: 'deploy:shop:h1:web', ports: [8080]}])
    expect(web.ports).toEqual([{container: 8080, host: 41000, protocol: 'tcp'}])
    expect(parseDeploymentKey(web.instanceId)).toEqual({deployment: 'shop', host: 'h1', container: 'web'})
    expect(isDeploymentKey('deploy:shop:h1:web')).toBe(true)
    expect(isDeploymentKey('7a0c3a52-6a0e-4c4e-9b8f-1f0e1d2c3b4a')).toBe(false)
  })

  it('keep the host ports a container was given, so a redeploy recreates nothing', async () => {
    const first = await specsOf(manifest())
    const alloc = allocator()
    const again = await specsOf(manifest(), first, alloc)
    expect(alloc.calls).toEqual([])
    expect(again).toEqual(first)
    expect(again.hosts.h1.map(specHash)).toEqual(first.hosts.h1.map(specHash))
  })

  it('hash the same whatever order env, volumes and ports are written in', async () => {
    const a = `name: d\nhosts:\n  - name: h1\n    containers:\n      - {name: c, image: x, env: {A: "1", B: "2"}, volumes: [/a, /b], ports: ["1:1", "2:2"]}\n`
    const b = `name: d\nhosts:\n  - name: h1\n    containers:\n      - {name: c, image: x, env: {B: "2", A: "1"}, volumes: [/b, /a], ports: ["2:2", "1:1"]}\n`
    expect(specHash((await specsOf(b)).hosts.h1[0])).toBe(specHash((await specsOf(a)).hosts.h1[0]))
  })

  it("refuse a host nobody registered and a fixed port inside the host's range, with their lines", async () => {
    const text = `name: d\nhosts:\n  - name: h1\n    containers:\n      - {name: c, image: x, ports: ["41005:80", "90"]}\n  - name: h9\n    containers: [{name: c, image: x}]\n`
    const alloc = allocator()
    await expect(
      specsOf(text.replace('name: c, image: x}]', 'name: c, image: x, ports: ["80"]}]'), undefined, alloc),
    ).rejects.toThrow(
      [
        "manifest.yml: line 5: hosts[0].containers[0].ports[0]: host port 41005 is in h1's range 41000-41099, which instances are given ports from: pick one outside it or leave the host port out",
        'manifest.yml: line 6: hosts[1].name: no host "h9" is registered (see dbroker hosts)',
      ].join('\n'),
    )
    // Refused before any port was reserved: nothing to give back.
    expect(alloc.calls).toEqual([])
  })
})

describe('the deployment diff', () => {
  it('creates everything on the first deploy, dependencies first', async () => {
    const diff = diffDeployment(undefined, await specsOf(manifest()))
    expect(formatDiff(diff)).toEqual(['h1  + redis (new)', 'h1  + app (new)', 'h1  + web (new)', 'shop: 3 to create'])
  })

  it('recreates a changed container and restarts its dependents after it', async () => {
    const before = await specsOf(manifest())
    const after = await specsOf(manifest({redis: 'dbroker/redis:7.2'}), before)
    const diff = diffDeployment(before, after)
    expect(formatDiff(diff)).toEqual([
      'h1  ~ redis (image changed: dbroker/redis:7 -> dbroker/redis:7.2)',
      'h1  ↻ app (restarts after redis)',
      'h1  ↻ web (restarts after redis)',
      'shop: 1 to recreate, 2 to restart',
    ])
    // The diff's "recreate" is the agent's: the spec hash it labels containers with changed, and only there.
    expect(after.hosts.h1.map((s, i) => specHash(s) !== specHash(before.hosts.h1[i]))).toEqual([true, false, false])
  })

  it('with depends_on changed: the recreated one goes first, its dependents restart after it, a dependency-only change keeps the container', async () => {
    const before = await specsOf(manifest())
    // app's command changes (recreate); web now also depends on redis (dbroker-only setting).
    const after = await specsOf(manifest({app: '        command: [app, --fast]', web: 'app, redis'}), before)
    const diff = diffDeployment(before, after)
    expect(formatDiff(diff)).toEqual([
      'h1  = redis (unchanged)',
      'h1  ~ app (command changed)',
      'h1  ↻ web (restarts after app; depends_on changed: app -> app, redis)',
      'shop: 1 to recreate, 1 to restart, 1 unchanged',
    ])
    // web stops depending on app: the app change no longer restarts it, and its container is kept.
    const rewired = await specsOf(manifest({app: '        command: [app, --fast]', web: 'redis'}), before)
    expect(formatDiff(diffDeployment(before, rewired))).toEqual([
      'h1  = redis (unchanged)',
      'h1  ~ app (command changed)',
      'h1  * web (depends_on changed: app -> redis; container kept)',
      'shop: 1 to recreate, 1 to update, 1 unchanged',
    ])
  })

  it('recreates two changed containers in dependency order and restarts their dependent once, after both', async () => {
    const before = await specsOf(manifest())
    const after = await specsOf(manifest({redis: 'dbroker/redis:7.2', app: '        memory: 64m'}), before)
    const diff = diffDeployment(before, after)
    expect(formatDiff(diff)).toEqual([
      'h1  ~ redis (image changed: dbroker/redis:7 -> dbroker/redis:7.2)',
      'h1  ~ app (memory changed: none -> 64M)',
      'h1  ↻ web (restarts after redis, app)',
      'shop: 2 to recreate, 1 to restart',
    ])
    expect(diff.hosts[0].steps[2]).toMatchObject({action: 'restart', after: ['redis', 'app']})
  })

  it('removes what left the manifest, before anything else on its host', async () => {
    const before = await specsOf(manifest())
    const shrunk = await specsOf(manifest({web: null}), before)
    expect(formatDiff(diffDeployment(before, shrunk))).toEqual([
      'h1  - web (removed)',
      'h1  = redis (unchanged)',
      'h1  = app (unchanged)',
      'shop: 1 to remove, 2 unchanged',
    ])
    const onlyRedis = await specsOf(
      manifest({web: null}).replace(/ {6}- name: app[\s\S]*?depends_on: \[redis\]\n/, ''),
      before,
    )
    // Dependents go before what they depend on.
    expect(
      diffDeployment(before, onlyRedis)
        .hosts[0].steps.filter((s) => s.action === 'remove')
        .map((s) => s.container),
    ).toEqual(['web', 'app'])
  })

  it('names changed env variables but never prints their values', async () => {
    const before = await specsOf(manifest())
    const after = await specsOf(manifest().replace('hunter2', 'correct-horse'), before)
    const lines = formatDiff(diffDeployment(before, after))
    expect(lines).toContain('h1  ~ app (env changed: PASSWORD)')
    expect(lines.join('\n')).not.toMatch(/hunter2|correct-horse/)
  })

  it('says when a container moves to another address or host port', async () => {
    const before = await specsOf(manifest())
    const after = await specsOf(manifest().replace('127.0.0.1:6379:6379', '16379:6379'), before)
    expect(formatDiff(diffDeployment(before, after))[0]).toBe(
      'h1  ~ redis (ports changed: 6379:6379 -> 16379:6379; address changed: 127.0.0.1 -> 10.0.0.1)',
    )
  })

  it('covers a host added and a host dropped, in a JSON form with counts', async () => {
    const h2 = `  - name: h2\n    containers:\n      - {name: cache, image: dbroker/redis:7, ports: ["6379"]}\n`
    const withH2 = await specsOf(manifest({h2}))
    const withoutH2 = await specsOf(manifest(), withH2)
    const diff = diffDeployment(withH2, withoutH2)
    expect(formatDiff(diff)).toEqual([
      'h1  = redis (unchanged)',
      'h1  = app (unchanged)',
      'h1  = web (unchanged)',
      'h2  - cache (removed)',
      'shop: 1 to remove, 3 unchanged',
    ])
    const json = JSON.parse(JSON.stringify(diff))
    expect(json).toEqual({
      deployment: 'shop',
      hosts: [
        {
          host: 'h1',
          steps: ['redis', 'app', 'web'].map((c) => ({
            action: 'unchanged',
            container: c,
            instanceId: `deploy:shop:h1:${c}`,
            changes: [],
          })),
        },
        {host: 'h2', steps: [{action: 'remove', container: 'cache', instanceId: 'deploy:shop:h2:cache', changes: []}]},
      ],
      summary: {create: 0, recreate: 0, update: 0, restart: 0, remove: 1, unchanged: 3},
    })
    expect(formatDiff(diffDeployment(withoutH2, withoutH2)).at(-1)).toBe('shop: nothing to change')
  })
})
