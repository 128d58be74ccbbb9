import type {FastifyInstance} from 'fastify'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {buildBrokerApp} from '../../src/broker/app.js'
import {BrokerClient} from '../../src/client/broker-client.js'
import {withDeployedContainers} from '../../src/client/deployments-client.js'
import {Deployments} from '../../src/broker/deployments.js'
import {BrokerEvents} from '../../src/broker/events.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import type {ContainerStats} from '../../src/core/admin.js'
import type {DeployedContainerDetail} from '../../src/core/deployments.js'
import {silentLogger} from '../../src/core/log.js'
import {openStore, type Store} from '../../src/store/index.js'
import {adminPlugins} from '../../src/system/admin-plugins.js'
import {FakeAgent} from '../helpers/fake-agent.js'

/** A running container's sample, as the agent's Docker stats give it. */
class SamplingAgent extends FakeAgent {
  async stats(): Promise<ContainerStats> {
    return {cpuPercent: 12.5, memoryBytes: 5 * 1024 * 1024, memoryLimitBytes: 64 * 1024 * 1024}
  }
}

const ADMIN = {username: 'admin', password: 'admin-password-1'}
const auth = {authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`}

const MANIFEST = `name: shop
hosts:
  - name: h1
    containers:
      - name: db
        image: dbroker/redis:7
        ports: ["6379"]
      - name: cache
        image: dbroker/redis:7
        env: {REDIS_PASSWORD: s3cret-in-the-manifest}
        ports: ["6380"]
        memory: 64m
        volumes: [/data]
        bind_volumes: ["/srv/shop/conf:/etc/redis:ro"]
        depends_on: [db]
`

/** A broker's HTTP app with these route plugins (none: a broker's own routes only, as one from before a route has). */
const brokerApp = (plugins: NonNullable<Parameters<typeof buildBrokerApp>[0]['plugins']> = []) =>
  buildBrokerApp({
    catalog: loadCatalog(),
    provisioner: {} as Provisioner,
    credentials: {username: 'broker', password: 'broker-password'},
    log: silentLogger,
    health: async () => undefined,
    plugins,
  })

describe('GET /admin/v1/deployed-containers/:id (what top shows of a deployed container)', () => {
  let store: Store
  let app: FastifyInstance
  let agent: FakeAgent
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    await store.upsertHost({
      id: 'h1',
      serviceAddress: '10.0.0.5',
      bindAddress: '0.0.0.0',
      agentUrl: null,
      portMin: 41000,
      portMax: 41009,
      zone: null,
      labels: {},
      facts: null,
    })
    agent = new SamplingAgent()
    const options = {store, agentFor: () => agent, keepaliveMs: 60_000, log: silentLogger}
    await new Deployments(options).deploy(MANIFEST, 'shop.yml')
    const catalog = loadCatalog()
    const provisioner = {} as Provisioner
    app = brokerApp(adminPlugins({...options, catalog, provisioner, events: new BrokerEvents(), credentials: ADMIN}))
    await app.ready()
  })
  afterEach(async () => {
    await app.close()
    await store.close()
  })

  const get = (id: string) =>
    app.inject({method: 'GET', url: `/admin/v1/deployed-containers/${encodeURIComponent(id)}`, headers: auth})

  it('answers its deployment, host, container name, image, ports, state, dependencies and volumes, never its env', async () => {
    const response = await get('deploy:shop:h1:cache')
    expect(response.statusCode).toBe(200)
    const detail = response.json<DeployedContainerDetail>()
    expect(detail).toMatchObject({
      id: 'deploy:shop:h1:cache',
      name: 'cache',
      deployment: 'shop',
      hostId: 'h1',
      address: '10.0.0.5',
      image: 'dbroker/redis:7',
      state: 'ready',
      deployState: 'ready',
      container: {status: 'running', health: 'none', restartCount: 0},
      dependsOn: ['db'],
      restart: 'unless-stopped',
      memoryLimitBytes: 64 * 1024 * 1024,
      binds: [{source: '/srv/shop/conf', path: '/etc/redis', readOnly: true}],
      disk: null,
      stats: {cpuPercent: 12.5, memoryBytes: 5 * 1024 * 1024},
    })
    expect(detail.containerName).toBe(agent.running.get('deploy:shop:h1:cache')!.name)
    expect(detail.ports).toEqual([{container: 6380, host: expect.any(Number), protocol: 'tcp'}])
    expect(detail.volumes.map((v) => v.path)).toEqual(['/data'])
    // The network as `docker network ls` names it, not the spec's bare deployment name.
    expect(detail.network).toEqual({name: `dbroker-${await store.installationId()}.shop`, aliases: ['cache']})
    expect(response.body).not.toContain('s3cret-in-the-manifest')
  })

  it('an unknown id is a 404 in the admin error shape; without admin credentials a 401', async () => {
    const missing = await get('deploy:shop:h1:nope')
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({
      description: 'no deployed container has the id deploy:shop:h1:nope: `dbroker deploy status` lists them',
    })
    const anonymous = await app.inject({method: 'GET', url: '/admin/v1/deployed-containers/deploy%3Ashop%3Ah1%3Acache'})
    expect(anonymous.statusCode).toBe(401)
  })

  it("top's client lists it with the instances and reads its detail through the route; the rest is the client's own", async () => {
    const url = await app.listen({host: '127.0.0.1', port: 0})
    const client = withDeployedContainers(
      new BrokerClient({url, adminUsername: ADMIN.username, adminPassword: ADMIN.password}),
    )
    expect((await client.instances()).map((i) => i.id)).toEqual(['deploy:shop:h1:db', 'deploy:shop:h1:cache'])
    expect(await client.deployedContainer('deploy:shop:h1:cache')).toMatchObject({
      deployment: 'shop',
      dependsOn: ['db'],
    })
    await expect(client.remove('deploy:shop:h1:cache')).rejects.toThrow('`dbroker deploy delete shop`')
  })

  it('a broker from before the route: the client says so, not "no route for GET ..."', async () => {
    const old = brokerApp()
    try {
      const url = await old.listen({host: '127.0.0.1', port: 0})
      const client = withDeployedContainers(new BrokerClient({url, adminUsername: 'a', adminPassword: 'b'}))
      await expect(client.deployedContainer('deploy:shop:h1:cache')).rejects.toThrow(
        `the broker at ${url} predates GET /admin/v1/deployed-containers/:id, so it can't show deploy:shop:h1:cache in detail; \`dbroker show deploy:shop:h1:cache\` can`,
      )
    } finally {
      await old.close()
    }
  })

  it('DELETE /admin/v1/instances/<its id> is refused with a 409 naming `dbroker deploy delete`, and it keeps running', async () => {
    const response = await app.inject({
      method: 'DELETE',
      url: `/admin/v1/instances/${encodeURIComponent('deploy:shop:h1:cache')}`,
      headers: auth,
    })
    expect(response.statusCode).toBe(409)
    expect(response.json().description).toBe(
      'deploy:shop:h1:cache is a container of deployment shop: its manifest changes it; `dbroker deploy delete shop` removes the whole deployment',
    )
    expect(agent.running.has('deploy:shop:h1:cache')).toBe(true)
    expect((await get('deploy:shop:h1:cache')).statusCode).toBe(200)
  })
})
