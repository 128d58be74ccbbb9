import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {psql, redis} from '../helpers/clients.js'
import {diskCatalog, diskLeftovers, releaseDisks} from '../helpers/disks.js'
import type {Daemon} from '../helpers/multihost.js'
import {type PrivateEngine, privateEngine, spawnAgent, spawnBroker} from '../helpers/private-engine.js'
import {OsbClient} from '../helpers/osb.js'
import {ORG, POSTGRES, REDIS, testId} from '../helpers/system.js'

const RUN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const BROKER_PORT = 47280
const AGENT_PORT = 47281
const RANGE = '47230-47259'
const OSB = {username: 'broker', password: randomBytes(12).toString('hex')}
const ADMIN = {username: 'ops', password: randomBytes(12).toString('hex')}
const IMAGES = ['dbroker/redis:7', 'dbroker/postgresql:15']

type Credentials = {uri: string; port: number; password: string}

/**
 * A host of its own: a private dockerd (helpers/private-engine.ts: own data root, exec root, pidfile, socket
 * and bridge in a temp dir, no iptables, so the shared engine's are never touched), a broker process and a
 * remote agent (`dbroker agent start`) with its disks dir outside that engine's data root.
 */
describe('a host whose engine data root is wiped gets its instances back with their data', () => {
  let dir: string
  let docker: PrivateEngine
  let broker: Daemon | undefined
  let agent: Daemon | undefined
  let osb: OsbClient
  const cache = testId()
  const db = testId()
  const loadImages = () =>
    execFileSync('sh', ['-c', `docker save ${IMAGES.join(' ')} | docker -H unix://${docker.socket} load >/dev/null`])
  const cli = (args: string[]) =>
    execFileSync(process.execPath, [RUN, ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
      env: {
        ...process.env,
        DBROKER_URL: `http://127.0.0.1:${BROKER_PORT}`,
        DBROKER_ADMIN_USERNAME: ADMIN.username,
        DBROKER_ADMIN_PASSWORD: ADMIN.password,
        XDG_CONFIG_HOME: dir,
        HOME: dir,
      },
    })
  const startAgent = async () => {
    agent = spawnAgent(dir, docker, {id: 'wiped', port: AGENT_PORT, brokerPort: BROKER_PORT, range: RANGE})
    await agent.ready
  }
  const hostFacts = async () => {
    const hosts = JSON.parse(cli(['hosts', '--json'])) as {
      result: Array<{id: string; facts: {disks?: {driver: string}}}>
    }
    return hosts.result.find((h) => h.id === 'wiped')?.facts
  }

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/dbdw-')
    // The private engine's bridge has at most 15 characters.
    docker = privateEngine(dir, {bridge: `dbdw${process.pid.toString(36)}`, subnet: '10.93.0.1/24'})
    writeFileSync(path.join(dir, 'store.key'), `${randomBytes(32).toString('hex')}\n`, {mode: 0o600})
    diskCatalog(path.join(dir, 'catalog.yml'), {redis: '64M', postgres: '256M'})
    try {
      await docker.start()
      loadImages()
      broker = spawnBroker(dir, {port: BROKER_PORT, catalog: path.join(dir, 'catalog.yml'), osb: OSB, admin: ADMIN})
      await broker.ready
      cli(['hosts', 'add', 'wiped', '--token-file', path.join(dir, 'agent.token'), '--json'])
      await startAgent()
      osb = new OsbClient(`http://127.0.0.1:${BROKER_PORT}`, OSB)
      await vi.waitFor(async () => expect((await hostFacts())?.disks?.driver).toBe('loop'), {timeout: 30_000})
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${broker?.logTail() ?? ''}\n${agent?.logTail() ?? ''}`, {
        cause: error,
      })
    }
  })
  afterAll(async () => {
    await Promise.all([broker, agent].map((d) => d?.kill('SIGKILL')))
    await docker?.destroy()
    releaseDisks(dir)
    rmSync(dir, {recursive: true, force: true})
  })

  it('a redis key and a postgres row written before are read back with the same credentials on the same port', async () => {
    const [r, p] = await Promise.all([
      osb.provision(cache, {...REDIS, ...ORG}),
      osb.provision(db, {...POSTGRES, ...ORG}),
    ])
    expect([r.status, p.status], `${JSON.stringify([r.body, p.body])}\n${agent!.logTail()}`).toEqual([201, 201])
    const cacheCredentials = (await osb.bind(cache, testId('b'), {...REDIS})).body.credentials as Credentials
    const dbCredentials = (await osb.bind(db, testId('b'), {...POSTGRES})).body.credentials as Credentials
    expect(redis(cacheCredentials.uri, 'SET', 'survivor', 'redis-data')).toBe('OK')
    psql(dbCredentials.uri, "CREATE TABLE survivors (v text); INSERT INTO survivors VALUES ('postgres-row')")

    // The VM is recreated: the agent and the engine stop, the disks are detached, the data root is wiped.
    await agent!.kill('SIGTERM')
    await docker.stop()
    releaseDisks(path.join(dir, 'disks'))
    expect(diskLeftovers(path.join(dir, 'disks')).mounts).toEqual([])
    rmSync(path.join(dir, 'data-root'), {recursive: true, force: true})
    rmSync(path.join(dir, 'exec'), {recursive: true, force: true})
    await docker.start()
    expect(await docker.engine.listContainers({all: true})).toEqual([])
    loadImages() // what a registry would give the new VM
    await startAgent()

    await vi.waitFor(() => expect(redis(cacheCredentials.uri, 'GET', 'survivor')).toBe('redis-data'), {
      timeout: 120_000,
      interval: 500,
    })
    await vi.waitFor(() => expect(psql(dbCredentials.uri, 'SELECT v FROM survivors')).toBe('postgres-row'), {
      timeout: 120_000,
      interval: 500,
    })
    const ports = (await docker.engine.listContainers()).flatMap((c) => c.Ports.map((port) => port.PublicPort)).sort()
    expect(ports).toEqual([cacheCredentials.port, dbCredentials.port].sort())

    expect((await osb.deprovision(cache, REDIS)).status).toBe(200)
    expect((await osb.deprovision(db, POSTGRES)).status).toBe(200)
    expect(diskLeftovers(path.join(dir, 'disks'))).toEqual({mounts: [], loops: []})
  })
})
