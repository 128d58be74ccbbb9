import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statfsSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {DiskError, LoopDisks, loopSupported, type ResizeFaults} from '../../src/agent/disks.js'
import {testId} from '../helpers/system.js'

const MiB = 2 ** 20
const sh = (script: string) => execFileSync('bash', ['-euo', 'pipefail', '-c', script], {encoding: 'utf8'})

/** The loop devices whose image lives under dir, read from the kernel (not from the code under test). */
function loopsUnder(dir: string): string[] {
  const devices = JSON.parse(
    execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], {encoding: 'utf8'}) ||
      '{"loopdevices":[]}',
  )
  return (devices.loopdevices as {name: string; 'back-file': string | null}[])
    .filter((d) => (d['back-file'] ?? '').startsWith(`${dir}/`))
    .map((d) => d.name)
}
const filesIn = (dir: string) =>
  readdirSync(dir).sort((a, b) => (a === 'mnt' ? 1 : b === 'mnt' ? -1 : a.localeCompare(b)))
const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target.startsWith(`${dir}/`))

/** Runs the redis image with the disk bound at /data; labelled, so the global teardown removes it if a test crashes. */
function inContainer(mountPoint: string, options: string[], args: string[]) {
  const name = testId('disk')
  const run = spawnSync(
    'docker',
    [
      'run',
      '--name',
      name,
      '--label',
      `dbroker.instance=${name}`,
      '-v',
      `${mountPoint}:/data`,
      ...options,
      'dbroker/redis:7',
      ...args,
    ],
    {encoding: 'utf8'},
  )
  if (options.includes('--rm')) spawnSync('docker', ['rm', '-f', name])
  return {name, status: run.status, stdout: run.stdout, stderr: run.stderr}
}

/** A tree with what a service's data has: big random contents, modes, owners, a link, a hard link, an empty dir. */
function writeData(mountPoint: string, megabytes: number): void {
  sh(`cd '${mountPoint}'
    mkdir -p db/base/1 empty
    dd if=/dev/urandom of=db/base/1/big bs=1M count=${megabytes} status=none
    printf 'hello' > db/small; chmod 0640 db/small; chown 100:101 db/small
    ln -s base/1/big db/link; ln db/small db/hard; chmod 0700 db/base`)
}
/** A checksum of the tree by find and sha256sum: paths, types, modes, owners, link targets and contents. */
const treeChecksum = (mountPoint: string) =>
  sh(`cd '${mountPoint}'
    { find . -printf '%p %y %m %U %G %l\\n' | LC_ALL=C sort; find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum`).trim()

describe('loop disks (real loop devices, as root)', () => {
  let dir: string
  let disks: LoopDisks

  beforeAll(async () => {
    expect(await loopSupported()).toEqual({supported: true})
  })
  beforeEach(() => {
    dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'dbroker-disks-')))
    disks = new LoopDisks({disksDir: dir})
  })
  afterEach(() => {
    // Even after a failed test: no mount, no loop device, no file of this test stays.
    for (const target of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', target])
    for (const device of loopsUnder(dir)) spawnSync('losetup', ['-d', device])
    rmSync(dir, {recursive: true, force: true})
  })

  it('creates a disk, mounts it nodev,nosuid, keeps its data when created again, and removes it without leaving a loop device', async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '64M', {owner: {uid: 100, gid: 101}})
    expect(disk).toMatchObject({
      created: true,
      sizeBytes: 64 * MiB,
      mountPoint: path.join(dir, 'mnt', id),
      image: path.join(dir, `${id}.img`),
    })
    const options = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .find((line) => line.split(' ')[1] === disk.mountPoint)!
    expect(options).toMatch(/ ext4 .*nosuid/)
    expect(options).toMatch(/nodev/)
    expect(statSync(disk.mountPoint)).toMatchObject({uid: 100, gid: 101})
    sh(`echo persisted > '${disk.mountPoint}/file'`)

    const again = await disks.create(id, '128M')
    expect(again).toMatchObject({created: false, sizeBytes: 64 * MiB})
    expect(readFileSync(path.join(disk.mountPoint, 'file'), 'utf8')).toBe('persisted\n')
    expect(loopsUnder(dir)).toHaveLength(1)
    expect((await disks.usage(id)).totalBytes).toBeGreaterThan(50 * MiB)

    await disks.remove(id)
    expect(existsSync(disk.image)).toBe(false)
    expect(existsSync(disk.mountPoint)).toBe(false)
    expect(mountsUnder(dir)).toEqual([])
    expect(loopsUnder(dir)).toEqual([])
    await expect(disks.usage(id)).rejects.toThrow(/not mounted/)
  })

  it("a tenant that makes a device node in its disk cannot read the host's kernel log through it", async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '32M')
    // Docker's default capabilities include MKNOD: a container can make the node (1,11 is /dev/kmsg), only not open it.
    const made = inContainer(disk.mountPoint, ['--rm', '--entrypoint', 'mknod'], ['/data/kmsg', 'c', '1', '11'])
    expect(made.status, made.stderr).toBe(0)
    const read = spawnSync(
      'dd',
      [`if=${disk.mountPoint}/kmsg`, 'of=/dev/null', 'bs=8192', 'count=1', 'iflag=nonblock'],
      {encoding: 'utf8'},
    )
    expect(read.stderr).toMatch(/failed to open .*Permission denied/)
    expect(read.status).not.toBe(0)
  })

  it('refuses ids that are paths and sizes that are not sizes, creating nothing', async () => {
    for (const id of ['../escape', 'a/b', '.hidden', '', 'UPPER'])
      await expect(disks.create(id, '64M')).rejects.toThrow(DiskError)
    await expect(disks.create('ok', '1X')).rejects.toThrow(/invalid disk size/)
    expect(sh(`find '${dir}' -mindepth 1 -not -path '${dir}/mnt'`)).toBe('')
    expect(existsSync(path.join(dir, '..', 'escape.img'))).toBe(false)
  })

  it('a 128M disk: writing 200 MB inside a container fails with ENOSPC, and the host keeps its space', async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '128M')
    const hostFreeBefore = statfsSync(dir).bavail * statfsSync(dir).bsize
    const dd = inContainer(
      disk.mountPoint,
      ['--rm', '--entrypoint', 'bash'],
      ['-c', 'dd if=/dev/zero of=/data/fill bs=1M count=200 conv=fsync'],
    )
    expect(dd.status).not.toBe(0)
    expect(dd.stderr).toMatch(/No space left on device/)
    const usage = await disks.usage(id)
    expect(usage.availableBytes).toBeLessThan(MiB)
    expect(usage.hostBytes).toBeLessThanOrEqual(128 * MiB)
    expect(statSync(path.join(disk.mountPoint, 'fill')).size).toBeLessThan(128 * MiB)
    // All the write took from the host is the image, at most the disk's size (the host's free space also moves with others' work).
    expect(statSync(disk.image).blocks * 512).toBeLessThanOrEqual(128 * MiB)
    expect(statfsSync(dir).bavail * statfsSync(dir).bsize).toBeGreaterThan(
      Math.min(hostFreeBefore - 128 * MiB, 2 ** 30),
    )
  })

  it('resizes 256M -> 1G -> 512M with 200 MB of data: stop before the copy, start after the swap, checksums identical', async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '256M', {owner: {uid: 100, gid: 101}})
    writeData(disk.mountPoint, 200)
    const checksum = treeChecksum(disk.mountPoint)
    const calls: string[] = []
    const hooks = {stop: async () => void calls.push('stop'), start: async () => void calls.push('start')}

    const grown = await disks.resize(id, '1G', {hooks})
    expect(grown).toMatchObject({changed: true, fromBytes: 256 * MiB, toBytes: 1024 * MiB})
    expect(grown.downtimeMs).toBeGreaterThan(0)
    expect(treeChecksum(disk.mountPoint)).toBe(checksum)
    expect((await disks.usage(id)).totalBytes).toBeGreaterThan(900 * MiB)

    const shrunk = await disks.resize(id, '512M', {hooks})
    expect(shrunk.toBytes).toBe(512 * MiB)
    expect(treeChecksum(disk.mountPoint)).toBe(checksum)
    const usage = await disks.usage(id)
    expect(usage.totalBytes).toBeGreaterThan(450 * MiB)
    expect(usage.totalBytes).toBeLessThan(512 * MiB)
    expect(calls).toEqual(['stop', 'start', 'stop', 'start'])
    expect(readFileSync(path.join(disk.mountPoint, 'db', 'small'), 'utf8')).toBe('hello')
    expect(statSync(disk.mountPoint)).toMatchObject({uid: 100, gid: 101})
    expect(filesIn(dir)).toEqual([`${id}.img`, 'mnt'])
    expect(mountsUnder(dir)).toEqual([disk.mountPoint])
    expect(loopsUnder(dir)).toHaveLength(1)
  })

  it.each<[string, ResizeFaults]>([
    ['after the new disk is made', {afterCreate: true}],
    ['after the stop', {afterStop: true}],
    ['after the copy', {afterCopy: true}],
    ['after the verification', {afterVerify: true}],
    ['after the swap', {afterSwap: true}],
    ['after the start', {afterStart: true}],
  ])(
    'a failure %s keeps the old disk in use with its data, the service started, and no partial image',
    async (_, faults) => {
      const id = testId('disk')
      const disk = await disks.create(id, '64M')
      writeData(disk.mountPoint, 20)
      const checksum = treeChecksum(disk.mountPoint)
      const inode = statSync(disk.image).ino
      let running = true
      const hooks = {stop: async () => void (running = false), start: async () => void (running = true)}

      await expect(disks.resize(id, '96M', {hooks, faults})).rejects.toThrow(/injected fault/)
      expect(running).toBe(true)
      expect(statSync(disk.image)).toMatchObject({ino: inode, size: 64 * MiB})
      expect(treeChecksum(disk.mountPoint)).toBe(checksum)
      expect(filesIn(dir)).toEqual([`${id}.img`, 'mnt'])
      expect(mountsUnder(dir)).toEqual([disk.mountPoint])
      expect(loopsUnder(dir)).toHaveLength(1)
      // And the disk still resizes afterwards.
      await disks.resize(id, '96M', {hooks})
      expect(treeChecksum(disk.mountPoint)).toBe(checksum)
    },
  )

  it('a service that does not come back on the new disk is started again on the old one', async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '64M')
    writeData(disk.mountPoint, 5)
    const checksum = treeChecksum(disk.mountPoint)
    const calls: string[] = []
    let starts = 0
    const hooks = {
      stop: async () => void calls.push('stop'),
      start: async () => {
        calls.push('start')
        if (starts++ === 0) throw new Error('not ready within 60s')
      },
    }
    await expect(disks.resize(id, '80M', {hooks})).rejects.toThrow(/not ready within 60s/)
    expect(calls).toEqual(['stop', 'start', 'stop', 'start'])
    expect(statSync(disk.image).size).toBe(64 * MiB)
    expect(treeChecksum(disk.mountPoint)).toBe(checksum)
  })

  it('refuses a shrink below the data up front, naming both sizes, without stopping the service', async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '256M')
    writeData(disk.mountPoint, 200)
    let stops = 0
    const hooks = {stop: async () => void stops++}
    await expect(disks.resize(id, '128M', {hooks})).rejects.toThrow(
      /^disk t-disk-\w+ holds 20\d MiB; 128 MiB is too small$/,
    )
    // Bigger than the data, smaller than the data once formatted: refused once the new disk is measured.
    await expect(disks.resize(id, '204M', {hooks})).rejects.toThrow(
      /holds 20\d MiB; 204 MiB is too small \(\d+ MiB usable after formatting\)/,
    )
    expect(stops).toBe(0)
    expect(statSync(disk.image).size).toBe(256 * MiB)
    expect(filesIn(dir)).toEqual([`${id}.img`, 'mnt'])
    expect(loopsUnder(dir)).toHaveLength(1)
  })

  it('will not swap a disk a running container still binds', async () => {
    const id = testId('disk')
    const disk = await disks.create(id, '64M')
    writeData(disk.mountPoint, 5)
    const checksum = treeChecksum(disk.mountPoint)
    const name = inContainer(disk.mountPoint, ['-d', '--entrypoint', 'sleep'], ['600']).name
    try {
      await expect(disks.resize(id, '96M')).rejects.toThrow(/still in use/)
      expect(statSync(disk.image).size).toBe(64 * MiB)
      expect(mountsUnder(dir)).toEqual([disk.mountPoint])
      expect(treeChecksum(disk.mountPoint)).toBe(checksum)
      await expect(disks.remove(id)).rejects.toThrow(/still in use/)
      expect(existsSync(disk.image)).toBe(true)
    } finally {
      execFileSync('docker', ['rm', '-f', name])
    }
    await disks.remove(id)
    expect(loopsUnder(dir)).toEqual([])
  })

  it('after every disk is unmounted (a wiped engine, a restarted agent) mountAll mounts them again with their data', async () => {
    const ids = [testId('disk'), testId('disk')]
    for (const id of ids) sh(`echo ${id} > '${(await disks.create(id, '32M')).mountPoint}/who'`)
    // A resize that crashed before its swap leaves a new image behind; it must not become a disk.
    sh(`truncate -s 32M '${dir}/${ids[0]}.img.new'`)
    // One that crashed after its swap leaves the old image: the new one is verified, the old one goes.
    sh(`cp --sparse=always '${dir}/${ids[1]}.img' '${dir}/${ids[1]}.img.old'`)
    expect((await disks.unmountAll()).sort()).toEqual([...ids].sort())
    expect(mountsUnder(dir)).toEqual([])
    expect(loopsUnder(dir)).toEqual([])

    const restarted = new LoopDisks({disksDir: dir})
    const result = await restarted.mountAll()
    expect(result).toEqual({mounted: [...ids].sort(), alreadyMounted: [], failed: []})
    for (const id of ids) expect(readFileSync(path.join(dir, 'mnt', id, 'who'), 'utf8')).toBe(`${id}\n`)
    expect(existsSync(`${dir}/${ids[0]}.img.new`)).toBe(false)
    expect(existsSync(`${dir}/${ids[1]}.img.old`)).toBe(false)
    expect(await restarted.mountAll()).toEqual({mounted: [], alreadyMounted: [...ids].sort(), failed: []})
    expect(loopsUnder(dir)).toHaveLength(2)
  })

  it('refuses a disks dir inside the engine data root', async () => {
    const inside = new LoopDisks({
      disksDir: path.join(dir, 'docker', 'disks'),
      engineDataRoot: path.join(dir, 'docker'),
    })
    await expect(inside.create('x', '32M')).rejects.toThrow(/inside the engine's data root/)
  })
})
