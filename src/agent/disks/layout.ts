import path from 'node:path'

import {DbrokerError} from '../../core/errors.js'

/** A persistent disk could not be created, mounted, resized or removed; the message says why and what is left. */
export class DiskError extends DbrokerError {
  override readonly name = 'DiskError'
}

/** Lowercase letters, digits, '-' and '_', starting with a letter or digit: never a path, never hidden, never '..'. */
const DISK_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/

export function validateDiskId(id: string): string {
  if (typeof id !== 'string' || !DISK_ID.test(id)) {
    throw new DiskError(
      `invalid disk id ${JSON.stringify(id)}: use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit`,
    )
  }
  return id
}

/** Where one disk's files live under the disks dir. */
export interface DiskPaths {
  id: string
  /** The persistent disk: an ext4 image file. */
  image: string
  /** An image being made (create or resize): incomplete until renamed to `image`. */
  fresh: string
  /** The previous image during a resize swap, deleted once the service runs on the new one. */
  old: string
  /** What a container binds. */
  mountPoint: string
  /** Where a resize mounts the new image while copying. */
  staging: string
}

export const IMAGE_SUFFIX = '.img'

export function diskPaths(disksDir: string, id: string): DiskPaths {
  validateDiskId(id)
  const image = path.join(disksDir, `${id}${IMAGE_SUFFIX}`)
  return {
    id,
    image,
    fresh: `${image}.new`,
    old: `${image}.old`,
    mountPoint: path.join(disksDir, 'mnt', id),
    // A leading dot: no disk id can start with one, so this never collides with a disk's mount point.
    staging: path.join(disksDir, 'mnt', `.resize-${id}`),
  }
}

/** The disk ids whose images are in a listing of the disks dir. */
export function diskIdsIn(fileNames: string[]): string[] {
  return fileNames
    .filter((name) => name.endsWith(IMAGE_SUFFIX))
    .map((name) => name.slice(0, -IMAGE_SUFFIX.length))
    .filter((id) => DISK_ID.test(id))
    .sort()
}
