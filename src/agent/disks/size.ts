import {DiskError} from './layout.js'

const UNITS: Record<string, number> = {'': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40}

/** The smallest disk mkfs.ext4 makes with a journal and room for data. */
export const MIN_DISK_BYTES = 16 * 2 ** 20
export const MAX_DISK_BYTES = 16 * 2 ** 40

/** "512M", "1G", "1.5g", "256MiB" or a byte count -> bytes (binary units), rounded up to whole 4 KiB blocks. */
export function parseDiskSize(size: string | number): number {
  let bytes: number
  if (typeof size === 'number') {
    bytes = size
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(size)
    if (!match)
      throw new DiskError(`invalid disk size ${JSON.stringify(size)}: use a number with K, M, G or T (e.g. 512M, 1G)`)
    bytes = Number(match[1]) * UNITS[match[2].toLowerCase()]
  }
  if (!Number.isFinite(bytes) || bytes < MIN_DISK_BYTES || bytes > MAX_DISK_BYTES) {
    throw new DiskError(`invalid disk size ${JSON.stringify(size)}: a disk is between 16M and 16T`)
  }
  return Math.ceil(bytes / 4096) * 4096
}

/** Sizes in the messages operators read: whole MiB (rounded up, so "holds" never understates). */
export function mib(bytes: number): string {
  return `${Math.ceil(bytes / 2 ** 20)} MiB`
}
