import {chown, link, mkdir, readdir, realpath, rename, rmdir, stat} from 'node:fs/promises'
import path from 'node:path'

import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import {attach, release} from './disks/attach.js'
import {
  detachLoop,
  filesystemUsage,
  loopDevicesOf,
  makeImage,
  mountedImage,
  mountTable,
  removeFile,
} from './disks/host.js'
import {DiskError, diskIdsIn, diskPaths, type DiskPaths} from './disks/layout.js'
import {resizeDisk, type ResizeOptions, type ResizeReport} from './disks/resize.js'
import {parseDiskSize} from './disks/size.js'
import {InstanceQueue} from './instance-queue.js'

export {DiskError} from './disks/layout.js'
export {loopSupported, type LoopSupport} from './disks/support.js'
export {parseDiskSize} from './disks/size.js'
export type {ResizeFaults, ResizeHooks, ResizeOptions, ResizeReport, ResizeStep} from './disks/resize.js'

export const DEFAULT_DISKS_DIR = '/var/lib/dbroker/disks'

export interface LoopDisksOptions {
  /** Where the images and their mount points live (default /var/lib/dbroker/disks). */
  disksDir?: string
  /** The engine's data root (`docker info` DockerRootDir): the disks dir must not be inside it, or a wipe takes the disks too. */
  engineDataRoot?: string
  log?: Logger
}

export interface Disk {
  id: string
  image: string
  /** The directory a container binds. */
  mountPoint: string
  sizeBytes: number
  /** False when an existing image was reused. */
  created: boolean
}

export interface DiskUsage {
  id: string
  sizeBytes: number
  totalBytes: number
  usedBytes: number
  availableBytes: number
  /** What the sparse image takes on the host's disk. */
  hostBytes: number
}

export interface MountAllResult {
  mounted: string[]
  alreadyMounted: string[]
  failed: {id: string; error: string}[]
}

/**
 * A host's `loop` disks: ext4 image files under the disks dir, each mounted at
 * `<disksDir>/mnt/<id>` for a container to bind. The image files are the persistent
 * disks: an engine whose data root is wiped finds them again through mountAll.
 * Calls for the same disk run one after another.
 */
export class LoopDisks {
  /** One disk's work runs one call after another, as an instance's container work does. */
  private readonly queue = new InstanceQueue()
  private root?: Promise<string>

  constructor(private readonly options: LoopDisksOptions = {}) {}

  private disksDir(): Promise<string> {
    this.root ??= (async () => {
      const dir = path.resolve(this.options.disksDir ?? DEFAULT_DISKS_DIR)
      await mkdir(path.join(dir, 'mnt'), {recursive: true, mode: 0o700})
      // The kernel's mount table names real paths: resolve links once so lookups match it.
      const real = await realpath(dir)
      const engineRoot =
        this.options.engineDataRoot &&
        (await realpath(this.options.engineDataRoot).catch(() => path.resolve(this.options.engineDataRoot!)))
      if (engineRoot && (real === engineRoot || real.startsWith(`${engineRoot}/`))) {
        throw new DiskError(
          `the disks dir ${real} is inside the engine's data root ${engineRoot}: a wiped engine would take the disks with it`,
        )
      }
      return real
    })()
    this.root.catch(() => (this.root = undefined))
    return this.root
  }

  private async paths(id: string): Promise<DiskPaths> {
    return diskPaths(await this.disksDir(), id)
  }

  /** Whether the disk's image exists (also one an interrupted resize left as <id>.img.old). */
  async has(id: string): Promise<boolean> {
    const paths = await this.paths(id)
    return (await exists(paths.image)) || (await exists(paths.old))
  }

  /** The directory a container binds for this disk (mounted or not). */
  async mountPoint(id: string): Promise<string> {
    return (await this.paths(id)).mountPoint
  }

  /**
   * Makes the disk if its image doesn't exist (an existing image is reused, never reformatted, whatever
   * its size) and mounts it unless it is mounted. `owner` sets the owner of the disk's root directory.
   */
  async create(id: string, size: string | number, options: {owner?: {uid: number; gid: number}} = {}): Promise<Disk> {
    const sizeBytes = parseDiskSize(size)
    const paths = await this.paths(id)
    return this.queue.run(id, async () => {
      await this.recover(paths)
      let created = false
      if (!(await exists(paths.image))) {
        // Formatted under a temporary name, so a crash never leaves a half-made image that looks reusable.
        await removeFile(paths.fresh)
        await makeImage(paths.fresh, sizeBytes)
        await rename(paths.fresh, paths.image)
        created = true
        this.options.log?.info(`disk ${id}: created ${paths.image}`)
      }
      await attach(id, paths.image, paths.mountPoint)
      if (options.owner) await chown(paths.mountPoint, options.owner.uid, options.owner.gid)
      return {id, image: paths.image, mountPoint: paths.mountPoint, sizeBytes: (await stat(paths.image)).size, created}
    })
  }

  /** At agent start: mounts every image in the disks dir (after finishing or undoing an interrupted resize). */
  async mountAll(): Promise<MountAllResult> {
    const dir = await this.disksDir()
    const names = await readdir(dir)
    // An interrupted resize can leave only <id>.img.old (see recover).
    const ids = [
      ...new Set(diskIdsIn([...names, ...names.filter((n) => n.endsWith('.img.old')).map((n) => n.slice(0, -4))])),
    ]
    const result: MountAllResult = {mounted: [], alreadyMounted: [], failed: []}
    for (const id of ids) {
      try {
        const paths = diskPaths(dir, id)
        const mounted = await this.queue.run(id, async () => {
          await this.recover(paths)
          return attach(id, paths.image, paths.mountPoint)
        })
        ;(mounted ? result.mounted : result.alreadyMounted).push(id)
      } catch (error) {
        result.failed.push({id, error: errorMessage(error)})
        this.options.log?.error(`disk ${id}: cannot mount: ${errorMessage(error)}`)
      }
    }
    return result
  }

  /** Unmounts every disk (agent shutdown; the images stay). */
  async unmountAll(): Promise<string[]> {
    const dir = await this.disksDir()
    const unmounted: string[] = []
    for (const id of diskIdsIn(await readdir(dir))) {
      const paths = diskPaths(dir, id)
      await this.queue.run(id, async () => {
        if ((await mountedImage(paths.mountPoint)) !== paths.image) return
        await release(id, paths.image, paths.mountPoint)
        unmounted.push(id)
      })
    }
    return unmounted
  }

  usage(id: string): Promise<DiskUsage> {
    return this.paths(id).then((paths) =>
      this.queue.run(id, async () => {
        // statfs of an unmounted mount point would describe the host's filesystem instead.
        if ((await mountedImage(paths.mountPoint)) !== paths.image) throw new DiskError(`disk ${id} is not mounted`)
        const image = await stat(paths.image)
        return {id, sizeBytes: image.size, hostBytes: image.blocks * 512, ...(await filesystemUsage(paths.mountPoint))}
      }),
    )
  }

  /** Grows or shrinks a mounted disk; see resizeDisk for the steps and what a failure leaves. */
  async resize(id: string, size: string | number, options: ResizeOptions = {}): Promise<ResizeReport> {
    const toBytes = parseDiskSize(size)
    const paths = await this.paths(id)
    return this.queue.run(id, async () => {
      await this.recover(paths)
      const report = await resizeDisk(paths, toBytes, options)
      if (report.changed)
        this.options.log?.info(
          `disk ${id}: resized from ${report.fromBytes} to ${report.toBytes} bytes in ${report.totalMs} ms`,
        )
      return report
    })
  }

  /** Unmounts the disk, frees its loop device and deletes its image: its data is gone. */
  remove(id: string): Promise<void> {
    return this.paths(id).then((paths) =>
      this.queue.run(id, async () => {
        await release(id, paths.image, paths.mountPoint, {removeMountPoint: true})
        for (const file of [paths.fresh, paths.old]) {
          for (const device of await loopDevicesOf(file)) await detachLoop(device)
        }
        if ((await mountedImage(paths.staging)) === paths.fresh) await release(id, paths.fresh, paths.staging)
        await rmdir(paths.staging).catch(() => undefined)
        for (const file of [paths.image, paths.fresh, paths.old]) await removeFile(file)
        this.options.log?.info(`disk ${id}: removed`)
      }),
    )
  }

  /**
   * Settles what a crash in the middle of a create or resize left. While <id>.img.new exists the swap
   * had not happened: the new image is dropped. A lone <id>.img.old means it had: the old one goes.
   */
  private async recover(paths: DiskPaths): Promise<void> {
    if ((await mountedImage(paths.staging)) === paths.fresh) await release(paths.id, paths.fresh, paths.staging)
    await rmdir(paths.staging).catch(() => undefined)
    const [image, fresh, old] = await Promise.all(
      [paths.image, paths.fresh, paths.old].map((file) => stat(file).catch(() => undefined)),
    )
    if (fresh) {
      for (const device of await loopDevicesOf(paths.fresh)) await detachLoop(device)
      await removeFile(paths.fresh)
    }
    if (old && !image) {
      await link(paths.old, paths.image)
      await removeFile(paths.old)
    } else if (old && image) {
      this.options.log?.warn(`disk ${paths.id}: removing ${paths.old} left by an interrupted resize`)
      await removeFile(paths.old)
    }
  }

  /** Every mount under the disks dir, for tests and diagnostics. */
  async mounts(): Promise<string[]> {
    const dir = await this.disksDir()
    return [...(await mountTable()).keys()].filter((target) => target.startsWith(`${dir}/`))
  }
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  )
