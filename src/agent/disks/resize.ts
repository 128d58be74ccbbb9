import {link, mkdir, rename, rm, rmdir, stat} from 'node:fs/promises'
import path from 'node:path'

import {errorMessage} from '../../core/errors.js'
import {attach, release} from './attach.js'
import {
  checkImage,
  copyTree,
  detachLoop,
  filesystemUsage,
  loopDevicesOf,
  makeImage,
  mountedImage,
  removeFile,
  syncToDisk,
} from './host.js'
import {DiskError, type DiskPaths} from './layout.js'
import {mib} from './size.js'
import {digestTree} from './tree.js'

export type ResizeStep = 'check' | 'create' | 'stop' | 'copy' | 'verify' | 'swap' | 'start' | 'cleanup'

/** What the caller does around the copy: stop the container (so the service flushes), start it and wait until ready. */
export interface ResizeHooks {
  stop?: () => Promise<void>
  start?: () => Promise<void>
}

/** Test seam: fail right after a step, as a crash of that step would. */
export type ResizeFaults = Partial<
  Record<'afterCreate' | 'afterStop' | 'afterCopy' | 'afterVerify' | 'afterSwap' | 'afterStart', boolean>
>

export interface ResizeOptions {
  hooks?: ResizeHooks
  faults?: ResizeFaults
  onStep?: (step: ResizeStep, ms: number) => void
}

export interface ResizeReport {
  id: string
  fromBytes: number
  toBytes: number
  changed: boolean
  entries: number
  contentBytes: number
  sha256?: string
  /** Milliseconds per step. */
  steps: Partial<Record<ResizeStep, number>>
  /** From the stop hook's call to the start hook's return: how long the service was away. */
  downtimeMs: number
  totalMs: number
}

/** How far a resize got, so a failure undoes exactly that. */
interface Progress {
  stopped: boolean
  startAttempted: boolean
  linkedOld: boolean
  swapped: boolean
}

/** Removes the new image, its staging mount and any loop device left on it. */
async function discardFresh(paths: DiskPaths): Promise<void> {
  if ((await mountedImage(paths.staging)) === paths.fresh) await release(paths.id, paths.fresh, paths.staging)
  for (const device of await loopDevicesOf(paths.fresh)) await detachLoop(device)
  await removeFile(paths.fresh)
  await rmdir(paths.staging).catch(() => undefined)
}

/** Puts the old image back at the mount point and the service back on it. */
async function rollBack(paths: DiskPaths, progress: Progress, hooks: ResizeHooks): Promise<string[]> {
  const problems: string[] = []
  const attempt = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work()
      return true
    } catch (error) {
      problems.push(`${what}: ${errorMessage(error)}`)
      return false
    }
  }
  if (progress.swapped) {
    if (progress.startAttempted && hooks.stop) await attempt('stop the container again', hooks.stop)
    // Without the new image released, putting the old one back could lose writes: keep both and say so.
    if (!(await attempt('release the new disk', () => release(paths.id, paths.image, paths.mountPoint))))
      return problems
    await attempt('put the old image back', () => rename(paths.old, paths.image))
  } else if (progress.linkedOld) {
    await attempt('drop the old image link', () => removeFile(paths.old))
  }
  await attempt('discard the new image', () => discardFresh(paths))
  await attempt('mount the old disk', () => attach(paths.id, paths.image, paths.mountPoint))
  if (progress.stopped && hooks.start) await attempt('start the container again', hooks.start)
  return problems
}

/**
 * Resizes a mounted disk the BOSH way: make the new disk, stop, copy, verify, swap, start, delete
 * the old. The new disk is made and sized before the stop, so a disk that can't hold the data is
 * refused while the service still runs; until the old image is deleted any failure puts it back.
 */
export async function resizeDisk(
  paths: DiskPaths,
  toBytes: number,
  options: ResizeOptions = {},
): Promise<ResizeReport> {
  const hooks = options.hooks ?? {}
  const faults = options.faults ?? {}
  const began = Date.now()
  const steps: ResizeReport['steps'] = {}
  let stepStart = began
  const done = (step: ResizeStep) => {
    const now = Date.now()
    steps[step] = now - stepStart
    options.onStep?.(step, steps[step]!)
    stepStart = now
  }
  const fault = (name: keyof ResizeFaults) => {
    if (faults[name]) throw new DiskError(`disk ${paths.id}: injected fault ${name}`)
  }

  if ((await mountedImage(paths.mountPoint)) !== paths.image)
    throw new DiskError(`disk ${paths.id} is not mounted: mount it before resizing`)
  const fromBytes = (await stat(paths.image)).size
  const data = await digestTree(paths.mountPoint, {contents: false})
  const report = (changed: boolean, downtimeMs: number, sha256?: string): ResizeReport => ({
    id: paths.id,
    fromBytes,
    toBytes,
    changed,
    entries: data.entries,
    contentBytes: data.contentBytes,
    sha256,
    steps,
    downtimeMs,
    totalMs: Date.now() - began,
  })
  if (toBytes === fromBytes) return report(false, 0)
  if (data.allocatedBytes >= toBytes)
    throw new DiskError(`disk ${paths.id} holds ${mib(data.allocatedBytes)}; ${mib(toBytes)} is too small`)
  done('check')

  const progress: Progress = {stopped: false, startAttempted: false, linkedOld: false, swapped: false}
  let stoppedAt: number
  try {
    await discardFresh(paths)
    await makeImage(paths.fresh, toBytes)
    await mkdir(paths.staging, {recursive: true, mode: 0o700})
    await attach(paths.id, paths.fresh, paths.staging)
    // The copy must match entry for entry: a disk whose lost+found was removed (initdb wants it empty) gets none.
    if (!(await stat(path.join(paths.mountPoint, 'lost+found')).catch(() => undefined)))
      await rm(path.join(paths.staging, 'lost+found'), {recursive: true, force: true})
    const room = await filesystemUsage(paths.staging)
    if (data.allocatedBytes > room.availableBytes) {
      throw new DiskError(
        `disk ${paths.id} holds ${mib(data.allocatedBytes)}; ${mib(toBytes)} is too small (${mib(room.availableBytes)} usable after formatting)`,
      )
    }
    done('create')
    fault('afterCreate')

    stoppedAt = Date.now()
    progress.stopped = true
    await hooks.stop?.()
    done('stop')
    fault('afterStop')

    await copyTree(paths.mountPoint, paths.staging)
    done('copy')
    fault('afterCopy')

    const [before, after] = await Promise.all([
      digestTree(paths.mountPoint, {contents: true}),
      digestTree(paths.staging, {contents: true}),
    ])
    if (before.entries !== after.entries || before.sha256 !== after.sha256) {
      throw new DiskError(
        `disk ${paths.id}: the copy differs (${before.entries} entries before, ${after.entries} after, checksums ${before.sha256 === after.sha256 ? 'equal' : 'differ'})`,
      )
    }
    await release(paths.id, paths.fresh, paths.staging, {removeMountPoint: true})
    await syncToDisk(paths.fresh)
    await checkImage(paths.fresh)
    done('verify')
    fault('afterVerify')

    await release(paths.id, paths.image, paths.mountPoint)
    // The old image stays linked as .old: at every instant <id>.img is one complete, verified image.
    await link(paths.image, paths.old)
    progress.linkedOld = true
    await rename(paths.fresh, paths.image)
    progress.swapped = true
    await syncToDisk(path.dirname(paths.image))
    await attach(paths.id, paths.image, paths.mountPoint)
    done('swap')
    fault('afterSwap')

    progress.startAttempted = true
    await hooks.start?.()
    const downtimeMs = Date.now() - stoppedAt
    done('start')
    fault('afterStart')

    await removeFile(paths.old)
    done('cleanup')
    return report(true, downtimeMs, after.sha256)
  } catch (error) {
    const problems = await rollBack(paths, progress, hooks)
    if (problems.length === 0) throw error
    throw new DiskError(`${errorMessage(error)}; undoing the resize also failed: ${problems.join('; ')}`)
  }
}
