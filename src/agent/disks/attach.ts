import {chmod, mkdir, rmdir} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'

import {loopDevicesOf, mountedImage, mountedInSomeNamespace, mountImage, unmount} from './host.js'
import {DiskError} from './layout.js'

/**
 * Mounts `image` at `mountPoint` unless it is mounted there already; refuses when something else is.
 * Returns whether it mounted.
 */
export async function attach(id: string, image: string, mountPoint: string): Promise<boolean> {
  const current = await mountedImage(mountPoint)
  if (current === image) return false
  if (current !== undefined)
    throw new DiskError(`disk ${id}: ${mountPoint} already has ${current} mounted; it is left alone`)
  await mkdir(mountPoint, {recursive: true})
  // The bare directory under the mount takes no writes, so nothing lands on the host's disk while it isn't mounted.
  await chmod(mountPoint, 0o000)
  await mountImage(image, mountPoint)
  return true
}

/**
 * Waits for the loop devices of an image to go after its last unmount (autoclear runs as the last
 * user lets go, at times a little later). A device another mount namespace holds for `heldMs` on end
 * is in use; shorter holds happen while the engine sets up an unrelated container (its namespace
 * starts as a copy of the host's mounts).
 */
async function loopsGone(image: string, options: {waitMs: number; heldMs: number}): Promise<string[]> {
  const deadline = Date.now() + options.waitMs
  let heldSince: number | undefined
  for (;;) {
    const devices = await loopDevicesOf(image)
    if (devices.length === 0 || Date.now() >= deadline) return devices
    const held = (await Promise.all(devices.map(async (d) => ((await mountedInSomeNamespace(d)) ? d : '')))).filter(
      Boolean,
    )
    if (held.length === 0) heldSince = undefined
    else if (Date.now() - (heldSince ??= Date.now()) >= options.heldMs) return held
    await sleep(25)
  }
}

/**
 * Unmounts `image` from `mountPoint` and waits until no loop device holds it. A device that stays
 * means another mount namespace (a running container that binds the disk) still uses it: the disk
 * is mounted again and the call fails, so nothing writes to an image that is about to be replaced.
 */
export async function release(
  id: string,
  image: string,
  mountPoint: string,
  options: {removeMountPoint?: boolean} = {},
): Promise<void> {
  if ((await mountedImage(mountPoint)) === image) await unmount(mountPoint)
  const left = await loopsGone(image, {waitMs: 15_000, heldMs: 3000})
  if (left.length > 0) {
    await attach(id, image, mountPoint)
    throw new DiskError(
      `disk ${id} is still in use (${left.join(', ')}): stop the container that binds ${mountPoint} first`,
    )
  }
  if (options.removeMountPoint)
    await rmdir(mountPoint).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
}
