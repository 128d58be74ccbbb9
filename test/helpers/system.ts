import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {defaultCatalogPath} from '../../src/catalog/index.js'
import {createLogger} from '../../src/core/log.js'
import {type LocalSystem, startLocal} from '../../src/system/local.js'
import {expect} from 'vitest'

import {labelled, removeInstallationNetwork, removeLabelled} from './docker.js'
import {OsbClient} from './osb.js'

export const REDIS = {
  service_id: 'bc8c6ef5-570d-4f7b-95fd-b6d009b47509',
  plan_id: '9224c565-e657-4b4e-8048-c400aea5257c',
}
export const POSTGRES = {
  service_id: 'a43935f6-0e81-4051-82b7-68fbdbb00d9d',
  plan_id: '007b1e94-65ac-4cc9-a4fa-6eecaf6c126a',
}
export const POSTGRES_MEDIUM = {service_id: POSTGRES.service_id, plan_id: '202e25c1-be27-4019-ab5d-1216289c6e30'}
export const ORG = {organization_guid: 'org-1', space_guid: 'space-1'}

/** This test run's 4 hex digits (set by the global setup), so a run's teardown never touches another checkout's run. */
export const TEST_RUN = /^[0-9a-f]{4}$/.test(process.env.DBROKER_TEST_RUN ?? '')
  ? process.env.DBROKER_TEST_RUN!
  : randomBytes(2).toString('hex')

/** Instance and binding ids for tests: the `t-` prefix and the run's digits let the global teardown find its leftovers. */
export const testId = (kind = 'i') => `t-${kind}-${TEST_RUN}${randomBytes(3).toString('hex')}`

export interface TestSystem {
  system: LocalSystem
  osb: OsbClient
  dataDir: string
  close(): Promise<void>
}

/**
 * The reference catalog with another build of a reference image where DBROKER_TEST_POSTGRES_IMAGE or
 * DBROKER_TEST_REDIS_IMAGE names one (e.g. the image before a fix, to watch an attack work there), written into
 * `dataDir`; undefined when neither is set.
 */
function catalogWithTestImages(dataDir: string): string | undefined {
  const swaps: Array<[string, string | undefined]> = [
    ['dbroker/postgresql:15', process.env.DBROKER_TEST_POSTGRES_IMAGE],
    ['dbroker/redis:7', process.env.DBROKER_TEST_REDIS_IMAGE],
  ]
  if (!swaps.some(([, image]) => image)) return undefined
  let text = readFileSync(defaultCatalogPath, 'utf8')
  for (const [reference, image] of swaps)
    if (image) text = text.split(`image: ${reference}\n`).join(`image: ${image}\n`)
  const file = path.join(dataDir, 'test-catalog.yml')
  writeFileSync(file, text)
  return file
}

/** A whole `up` in this process: temp data dir, port 0, a test port range; close() removes every container it made. */
export async function startTestSystem(
  options: {
    catalogFile?: string
    /** A catalog's YAML text instead of a file: written into the data dir. */
    catalog?: string
    dataDir?: string
    portRange?: [number, number]
  } = {},
): Promise<TestSystem> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'dbroker-test-'))
  const given = options.catalog === undefined ? options.catalogFile : path.join(dataDir, 'test-catalog.yml')
  if (options.catalog !== undefined) writeFileSync(given!, options.catalog)
  const system = await startLocal({
    dataDir,
    catalogFile: given ?? catalogWithTestImages(dataDir),
    listen: {host: '127.0.0.1', port: 0},
    serviceAddress: '127.0.0.1',
    portRange: options.portRange ?? [41000, 41999],
    keepaliveMs: 1000,
    log: createLogger(process.env.DBROKER_TEST_LOG ? 'debug' : 'silent'),
  }).catch((error: unknown) => {
    // A system that never started has no close(): its temp data dir goes here.
    if (!options.dataDir) rmSync(dataDir, {recursive: true, force: true})
    throw error
  })
  const osb = new OsbClient(system.url, system.credentials)
  return {
    system,
    osb,
    dataDir,
    async close() {
      // Shared plans' containers carry their own ids, not an instance's.
      const ids = [
        ...(await system.store.listInstances()).map((i) => i.id),
        ...(await system.store.sharedContainers.list()).map((c) => c.id),
      ]
      await system.close()
      // Only this system's: another `up` on the engine may use the same instance ids.
      await removeLabelled(ids, system.installationId)
      await removeInstallationNetwork(system.installationId)
      if (!options.dataDir) rmSync(dataDir, {recursive: true, force: true})
    },
  }
}

/** No container, volume, port or row of the instance remains. */
export async function expectNothingLeft(t: TestSystem, id: string): Promise<void> {
  const left = await labelled(id, t.system.installationId)
  expect(left.containers, `containers of ${id}`).toHaveLength(0)
  expect(left.volumes, `volumes of ${id}`).toHaveLength(0)
  expect(await t.system.store.portsOf(id)).toEqual([])
  expect(await t.system.store.getInstance(id)).toBeUndefined()
}
