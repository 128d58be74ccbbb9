import {execFile} from 'node:child_process'
import {constants as fsConstants} from 'node:fs'
import {access, open, readdir, readFile, readlink, statfs, unlink} from 'node:fs/promises'
import path from 'node:path'

import {DiskError} from './layout.js'

/** The host side of a loop disk: one command or one kernel table read per function, no policy. */

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin']

/** A tool's path: mkfs.ext4 and friends live in sbin, which a non-login PATH may lack. */
export async function findTool(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN]
  for (const dir of dirs) {
    const candidate = path.join(dir, name)
    if (
      await access(candidate, fsConstants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate
  }
  return undefined
}

export function run(command: string, args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {timeout: timeoutMs, maxBuffer: 16 * 2 ** 20, env: {...process.env, LC_ALL: 'C'}},
      (error, stdout, stderr) => {
        if (error) {
          const output = `${stderr}`.trim() || `${stdout}`.trim() || error.message
          reject(new DiskError(`${path.basename(command)} ${args.join(' ')} failed: ${output}`))
        } else {
          resolve(`${stdout}`)
        }
      },
    )
  })
}

async function tool(name: string): Promise<string> {
  const found = await findTool(name)
  if (!found) throw new DiskError(`${name} is not installed (loop disks need e2fsprogs and util-linux)`)
  return found
}

/** A sparse image file of exactly `sizeBytes` with an ext4 filesystem (journaled, no blocks reserved for root). */
export async function makeImage(image: string, sizeBytes: number): Promise<void> {
  const file = await open(image, 'wx', 0o600)
  try {
    await file.truncate(sizeBytes)
  } finally {
    await file.close()
  }
  // -T default: 4 KiB blocks at every size, so copies between disks of any size allocate alike.
  await run(await tool('mkfs.ext4'), ['-q', '-F', '-T', 'default', '-m', '0', image])
}

/** e2fsck -n -f: a read-only full check of an unmounted image. */
export async function checkImage(image: string): Promise<void> {
  await run(await tool('e2fsck'), ['-n', '-f', image])
}

/** Mounts an image through a fresh loop device that is freed again by its unmount (util-linux sets autoclear). */
export async function mountImage(image: string, mountPoint: string): Promise<void> {
  // nodev,nosuid: device nodes and setuid files a tenant writes into its disk mean nothing on the host.
  await run(await tool('mount'), ['-t', 'ext4', '-o', 'loop,nodev,nosuid,noatime', image, mountPoint])
}

export async function unmount(mountPoint: string): Promise<void> {
  await run(await tool('umount'), [mountPoint])
}

export async function detachLoop(device: string): Promise<void> {
  await run(await tool('losetup'), ['-d', device])
}

const unescapeMountField = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))

/** Mount point -> source of the topmost mount there, from the kernel's table. */
export async function mountTable(): Promise<Map<string, string>> {
  const table = new Map<string, string>()
  for (const line of (await readFile('/proc/self/mounts', 'utf8')).split('\n')) {
    const [source, target] = line.split(' ')
    if (source && target) table.set(unescapeMountField(target), unescapeMountField(source))
  }
  return table
}

/** Every attached loop device and the file behind it, from sysfs. */
export async function loopDevices(): Promise<{device: string; backingFile: string}[]> {
  const names = (await readdir('/sys/block').catch(() => [] as string[])).filter((name) => /^loop\d+$/.test(name))
  const devices = await Promise.all(
    names.map(async (name) => {
      const backing = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '')
      return {device: `/dev/${name}`, backingFile: backing.trim()}
    }),
  )
  return devices.filter((d) => d.backingFile !== '')
}

/** The loop devices backed by `image` (also one whose file was renamed over or deleted since). */
export async function loopDevicesOf(image: string): Promise<string[]> {
  return (await loopDevices())
    .filter((d) => d.backingFile === image || d.backingFile === `${image} (deleted)`)
    .map((d) => d.device)
}

/** Whether any mount namespace on the host (a container's, say) still has the loop device mounted. */
export async function mountedInSomeNamespace(device: string): Promise<boolean> {
  const name = path.basename(device)
  const number = (await readFile(`/sys/block/${name}/dev`, 'utf8').catch(() => '')).trim()
  if (!number) return false
  const seen = new Set<string>()
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const namespace = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined)
    if (!namespace || seen.has(namespace)) continue
    seen.add(namespace)
    const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '')
    if (mounts.split('\n').some((line) => line.split(' ')[2] === number)) return true
  }
  return false
}

/** The image mounted at a mount point, or undefined when nothing (or no loop device) is mounted there. */
export async function mountedImage(mountPoint: string): Promise<string | undefined> {
  const source = (await mountTable()).get(mountPoint)
  if (!source) return undefined
  const match = /^\/dev\/(loop\d+)$/.exec(source)
  if (!match) return source
  const backing = await readFile(`/sys/block/${match[1]}/loop/backing_file`, 'utf8').catch(() => '')
  return backing.trim() || source
}

export interface FilesystemUsage {
  totalBytes: number
  usedBytes: number
  availableBytes: number
}

export async function filesystemUsage(mountPoint: string): Promise<FilesystemUsage> {
  const s = await statfs(mountPoint)
  return {totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, availableBytes: s.bavail * s.bsize}
}

/** Forces a file's data, or a directory's entries, to the host's disk (the loop device's writes sit in the page cache). */
export async function syncToDisk(file: string): Promise<void> {
  const handle = await open(file, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function removeFile(file: string): Promise<void> {
  await unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error
  })
}

/** Copies a directory tree with everything a service's data has: owners, modes, links, xattrs, ACLs, times. */
export async function copyTree(from: string, to: string): Promise<void> {
  const rsync = await findTool('rsync')
  if (rsync) await run(rsync, ['-aHAX', '--numeric-ids', `${from}/`, `${to}/`])
  else await run(await tool('cp'), ['-a', `${from}/.`, `${to}/`])
}
