import {access, readFile} from 'node:fs/promises'

import {findTool} from './host.js'

export type LoopSupport = {supported: true} | {supported: false; reason: string}

/** What loopSupported looks at, so a unit test can describe a host without being one. */
export interface HostProbe {
  platform: NodeJS.Platform
  uid: number | undefined
  exists(file: string): Promise<boolean>
  readFile(file: string): Promise<string>
  findTool(name: string): Promise<string | undefined>
}

const thisHost: HostProbe = {
  platform: process.platform,
  uid: process.getuid?.(),
  exists: (file) =>
    access(file).then(
      () => true,
      () => false,
    ),
  readFile: (file) => readFile(file, 'utf8'),
  findTool,
}

const TOOLS = ['mkfs.ext4', 'e2fsck', 'mount', 'umount', 'losetup']

/** Whether this host can run `loop` disks; when not, why (the caller then falls back to `volume` disks). */
export async function loopSupported(host: HostProbe = thisHost): Promise<LoopSupport> {
  const no = (reason: string): LoopSupport => ({
    supported: false,
    reason: `loop disks unavailable: ${reason}; use driver volume`,
  })
  if (host.platform !== 'linux') return no(`they need Linux (this is ${host.platform})`)
  if (host.uid !== 0) return no(`they need root to mount (running as uid ${host.uid ?? 'unknown'})`)
  if (!(await host.exists('/dev/loop-control')))
    return no('the kernel has no loop device support (/dev/loop-control is missing: modprobe loop)')
  const filesystems = await host.readFile('/proc/filesystems').catch(() => '')
  if (!/\bext4\b/.test(filesystems) && !(await host.exists('/sys/module/ext4')))
    return no('the kernel has no ext4 support (modprobe ext4)')
  const missing: string[] = []
  for (const name of TOOLS) if (!(await host.findTool(name))) missing.push(name)
  if (missing.length > 0) return no(`${missing.join(', ')} not found (install e2fsprogs and util-linux)`)
  return {supported: true}
}
