import {describe, expect, it} from 'vitest'

import {loopDiskId} from '../../src/agent/instance-disks.js'
import {checkDiskChange} from '../../src/broker/disk-parameters.js'
import {instanceCredentials} from '../../src/broker/credentials.js'
import {buildSpec} from '../../src/broker/spec.js'
import {CatalogError, parseCatalog} from '../../src/catalog/index.js'
import {specHash} from '../../src/core/spec-hash.js'
import type {ContainerSpec, Host} from '../../src/core/types.js'
import {KV_PLAN_ID, kvPlanCatalog} from '../helpers/plan-spec.js'

const MiB = 2 ** 20

const host: Host = {
  id: 'h1',
  serviceAddress: '127.0.0.1',
  bindAddress: '127.0.0.1',
  agentUrl: null,
  portMin: 40000,
  portMax: 40010,
  zone: null,
  drained: false,
  status: 'alive',
  labels: {},
  facts: null,
  lastHeartbeat: 0,
  capacity: {maxContainers: null, memoryBytes: null},
  keepaliveMs: null,
}

function specOf(container: string, parameters: Record<string, unknown> = {}, previous?: ContainerSpec) {
  const {service, plan} = parseCatalog(kvPlanCatalog(container), 'catalog.yml').plan(KV_PLAN_ID)!
  return buildSpec({
    instanceId: 'i-1',
    installationId: 'a1b2c3d4e5f6',
    service,
    plan,
    host,
    ports: [{container: 6379, host: 40000, protocol: 'tcp'}],
    credentials: {...instanceCredentials(plan), password: 'the-same-password'},
    parameters,
    previous,
  })
}

const loadError = (container: string) => {
  try {
    parseCatalog(kvPlanCatalog(container), 'catalog.yml')
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError)
    return (error as Error).message
  }
  throw new Error('the catalog loaded')
}

describe('a plan with a disk', () => {
  it('puts the disk at the first volume path, in place of that volume, with the plan size or disk_size', () => {
    const spec = specOf('          volumes: [/data, /logs]\n          disk: {size: 128M}')
    expect(spec.disk).toEqual({name: 'dbroker-a1b2c3d4e5f6-i-1-disk', path: '/data', sizeBytes: 128 * MiB})
    expect(spec.volumes.map((v) => v.path)).toEqual(['/logs'])
    const resized = specOf('          volumes: [/data, /logs]\n          disk: {size: 128M}', {disk_size: '1G'}, spec)
    expect(resized.disk).toEqual({...spec.disk, sizeBytes: 1024 * MiB})
    expect(resized.volumes).toEqual(spec.volumes)
    // The size is the agent's to change in place: the container is kept, its hash too.
    expect(specHash(resized)).toBe(specHash(spec))
    const elsewhere = specOf('          disk: {size: 128M, path: /srv, driver: volume}')
    expect(elsewhere.disk).toEqual({
      name: 'dbroker-a1b2c3d4e5f6-i-1-disk',
      path: '/srv',
      sizeBytes: 128 * MiB,
      driver: 'volume',
    })
    expect(specHash(elsewhere)).not.toBe(specHash(spec))
  })

  it('refuses a disk without a path to go, one too small, and an unknown driver, naming the field and line', () => {
    expect(loadError('          disk: {size: 1G}')).toMatch(/line \d+.*disk\.path: name the path/)
    expect(loadError('          volumes: [/data]\n          disk: {size: 1M}')).toMatch(
      /disk\.size: a disk is between 16M and 16T/,
    )
    expect(loadError('          volumes: [/data]\n          disk: {size: 1G, driver: nfs}')).toMatch(/disk\.driver/)
  })

  it('an update keeps where the data lives, and sizes a disk only on a host whose disks have a size', () => {
    const spec = specOf('          volumes: [/data]\n          disk: {size: 128M}')
    const bigger = {...spec, disk: {...spec.disk!, sizeBytes: 1024 * MiB}}
    expect(() => checkDiskChange(spec, bigger, {id: 'h1', facts: null})).not.toThrow()
    expect(() => checkDiskChange(spec, {...spec, disk: {...spec.disk!, path: '/other'}}, host)).toThrow(
      /provision a new instance instead/,
    )
    expect(() => checkDiskChange(spec, {...spec, disk: undefined}, host)).toThrow(/without one/)
    const volumeHost = {id: 'h2', facts: {disks: {driver: 'volume' as const}} as Host['facts']}
    expect(() => checkDiskChange(spec, bigger, volumeHost)).toThrow(/host h2 keeps disks as Docker volumes/)
  })

  it('gives each installation and instance its own loop disk id, never a path', () => {
    const ids = [loopDiskId('a1', 'x'), loopDiskId('a2', 'x'), loopDiskId('a1', 'X'), loopDiskId('a1', '../../etc')]
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[a-z0-9][a-z0-9_-]{0,63}$/)
    expect(loopDiskId('a'.repeat(80), 'b'.repeat(300)).length).toBeLessThanOrEqual(64)
  })
})
