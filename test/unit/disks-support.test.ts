import {describe, expect, it} from 'vitest'

import {type HostProbe, loopSupported} from '../../src/agent/disks/support.js'

const linuxRoot = (overrides: Partial<HostProbe> = {}): HostProbe => ({
  platform: 'linux',
  uid: 0,
  exists: async () => true,
  readFile: async () => 'nodev\tproc\n\text4\n',
  findTool: async (name) => `/usr/sbin/${name}`,
  ...overrides,
})

describe('loopSupported', () => {
  it('says yes on Linux as root with loop, ext4 and the tools', async () => {
    expect(await loopSupported(linuxRoot())).toEqual({supported: true})
  })

  it.each<[string, Partial<HostProbe>, RegExp]>([
    ['not Linux', {platform: 'darwin'}, /need Linux \(this is darwin\)/],
    ['not root', {uid: 1000}, /need root .*uid 1000/],
    [
      'no loop driver',
      {exists: async (file) => file !== '/dev/loop-control'},
      /no loop device support .*modprobe loop/,
    ],
    [
      'no ext4',
      {readFile: async () => 'nodev\tproc\n', exists: async (file) => file !== '/sys/module/ext4'},
      /no ext4 support/,
    ],
    [
      'no mkfs.ext4 or e2fsck',
      {findTool: async (name) => (name.startsWith('mkfs') || name === 'e2fsck' ? undefined : `/bin/${name}`)},
      /mkfs\.ext4, e2fsck not found/,
    ],
  ])('says no, and why, when %s (the caller falls back to volume)', async (_, overrides, reason) => {
    const answer = await loopSupported(linuxRoot(overrides))
    expect(answer.supported).toBe(false)
    expect(answer.supported === false && answer.reason).toMatch(reason)
    expect(answer.supported === false && answer.reason).toMatch(/use driver volume$/)
  })
})
