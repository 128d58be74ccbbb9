import {mkdtempSync, readdirSync, rmSync, statfsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DISK_FAULT_ENV} from '../../src/agent/instance-disks.js'
import {redis} from '../helpers/clients.js'
import {diskCatalog, diskLeftovers, inContainer, releaseDisks} from '../helpers/disks.js'
import {labelled} from '../helpers/docker.js'
import {expectNothingLeft, ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

const MiB = 2 ** 20
type Credentials = {uri: string; port: number}

describe('an instance on a loop disk (real engine, real loop devices, as root)', () => {
  let dir: string
  let disksDir: string
  let t: TestSystem | undefined

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-instance-disks-'))
    disksDir = path.join(dir, 'data', 'disks')
    const catalogFile = path.join(dir, 'catalog.yml')
    diskCatalog(catalogFile, {redis: '128M', postgres: '256M'})
    t = await startTestSystem({catalogFile, dataDir: path.join(dir, 'data'), portRange: [47100, 47129]})
  })
  afterAll(async () => {
    await t?.close()
    releaseDisks(dir)
    rmSync(dir, {recursive: true, force: true})
  })

  const nameOf = async (id: string) => (await t!.system.store.getInstance(id))!.spec.name
  const imagesIn = () => readdirSync(disksDir).filter((f) => f.includes('.img'))
  const adminResize = async (ref: string, size: string) => {
    const {username, password} = t!.system.adminCredentials
    const response = await fetch(`${t!.system.url}/admin/v1/instances/${ref}/disk`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
        'content-type': 'application/json',
        'x-broker-api-version': '2.17',
      },
      body: JSON.stringify({size}),
    })
    return {status: response.status, body: (await response.json()) as Record<string, unknown>}
  }
  /** Size of the filesystem the container sees at /data, in MiB. */
  const diskMiB = async (id: string) => {
    const df = inContainer(await nameOf(id), 'redis', 'df -k /data | tail -1')
    return Math.round(Number(df.output.split(/\s+/)[1]) / 1024)
  }
  const checksum = async (id: string) =>
    inContainer(await nameOf(id), 'redis', 'sha256sum /data/blob').output.split(' ')[0]

  it('a 128M disk: writing 200 MB inside fails with ENOSPC, the host keeps its space, redis keeps serving; deprovision leaves nothing', async () => {
    const id = testId()
    expect((await t!.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const credentials = (await t!.osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
    expect(redis(credentials.uri, 'SET', 'kept', 'yes')).toBe('OK')
    const name = await nameOf(id)
    const {containers} = await labelled(id, t!.system.installationId)
    expect(containers[0].Mounts.find((m) => m.Destination === '/data')).toMatchObject({Type: 'bind'})

    const hostFreeBefore = statfsSync(dir).bavail * statfsSync(dir).bsize
    const write = inContainer(name, 'redis', 'dd if=/dev/zero of=/data/fill bs=1M count=200 conv=fsync')
    expect(write.status).not.toBe(0)
    expect(write.output).toMatch(/No space left on device/)
    const written = inContainer(name, 'redis', 'stat -c %s /data/fill')
    expect(Number(written.output)).toBeLessThan(128 * MiB)
    const hostFreeAfter = statfsSync(dir).bavail * statfsSync(dir).bsize
    expect(hostFreeBefore - hostFreeAfter).toBeLessThan(140 * MiB)
    expect(redis(credentials.uri, 'GET', 'kept')).toBe('yes')

    expect((await t!.osb.deprovision(id, REDIS)).status).toBe(200)
    await expectNothingLeft(t!, id)
    expect(imagesIn()).toEqual([])
    expect(diskLeftovers(dir)).toEqual({mounts: [], loops: []})
  })

  it('resize 256M -> 1G -> 512M with 200 MB of data keeps every byte; a shrink below the data and an injected failure change nothing', async () => {
    const id = testId()
    expect((await t!.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const credentials = (await t!.osb.bind(id, testId('b'), {...REDIS})).body.credentials as Credentials
    // OSB update with disk_size: the plan's 128M becomes 256M.
    expect((await t!.osb.update(id, {...REDIS, parameters: {disk_size: '256M'}})).status).toBe(200)
    expect(await diskMiB(id)).toBeGreaterThan(200)
    const name = await nameOf(id)
    expect(inContainer(name, 'redis', 'head -c 200M /dev/urandom > /data/blob && sync').status).toBe(0)
    expect(redis(credentials.uri, 'SET', 'before', 'resize')).toBe('OK')
    const sum = await checksum(id)
    expect(sum).toMatch(/^[0-9a-f]{64}$/)

    // The admin route (`dbroker disk resize`) grows it...
    const grown = await adminResize(id, '1G')
    expect(grown).toMatchObject({status: 200, body: {id, fromBytes: 256 * MiB, toBytes: 1024 * MiB}})
    expect(await diskMiB(id)).toBeGreaterThan(900)
    expect(await checksum(id)).toBe(sum)
    expect(redis(credentials.uri, 'GET', 'before')).toBe('resize')

    // ...and an OSB update shrinks it.
    expect((await t!.osb.update(id, {...REDIS, parameters: {disk_size: '512M'}})).status).toBe(200)
    const mib = await diskMiB(id)
    expect(mib).toBeGreaterThan(450)
    expect(mib).toBeLessThan(520)
    expect(await checksum(id)).toBe(sum)
    expect(redis(credentials.uri, 'GET', 'before')).toBe('resize')
    expect((await t!.system.store.getInstance(id))!.spec.disk!.sizeBytes).toBe(512 * MiB)

    // Below the data: refused before anything stops, with both numbers.
    const startedAt = (await labelled(id, t!.system.installationId)).containers[0].Created
    const tooSmall = await adminResize(id, '128M')
    expect(tooSmall.status).toBeGreaterThanOrEqual(400)
    expect(String(tooSmall.body.description)).toMatch(/holds 20\d MiB; 128 MiB is too small/)
    expect((await labelled(id, t!.system.installationId)).containers[0].Created).toBe(startedAt)

    // A failure after the copy: the old disk stays in use, the service runs, the data is intact.
    process.env[DISK_FAULT_ENV] = 'afterCopy'
    try {
      const failed = await adminResize(id, '1G')
      expect(failed.status).toBeGreaterThanOrEqual(400)
      expect(String(failed.body.description)).toMatch(/injected fault afterCopy.*the instance runs as before/)
    } finally {
      delete process.env[DISK_FAULT_ENV]
    }
    const after = await diskMiB(id)
    expect(after).toBe(mib)
    expect(await checksum(id)).toBe(sum)
    expect(redis(credentials.uri, 'GET', 'before')).toBe('resize')
    expect((await t!.system.store.getInstance(id))!.spec.disk!.sizeBytes).toBe(512 * MiB)
    expect(imagesIn()).toHaveLength(1)

    expect((await t!.osb.deprovision(id, REDIS)).status).toBe(200)
    await expectNothingLeft(t!, id)
    expect(imagesIn()).toEqual([])
    expect(diskLeftovers(dir)).toEqual({mounts: [], loops: []})
  })

  it('refuses a disk_size that is no size, naming the parameter', async () => {
    const id = testId()
    expect((await t!.osb.provision(id, {...REDIS, ...ORG})).status).toBe(201)
    const bad = await t!.osb.update(id, {...REDIS, parameters: {disk_size: 'lots'}})
    expect(bad.status).toBe(400)
    expect(String(bad.body.description)).toMatch(/disk_size "lots" is not a disk size/)
    expect((await t!.osb.deprovision(id, REDIS)).status).toBe(200)
    await expectNothingLeft(t!, id)
  })
})
