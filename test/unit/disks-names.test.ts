import {describe, expect, it} from 'vitest'

import {diskIdsIn, diskPaths, validateDiskId} from '../../src/agent/disks/layout.js'
import {mib, parseDiskSize} from '../../src/agent/disks/size.js'

describe('disk ids and sizes', () => {
  it('accepts slugs and refuses anything that could be a path, hidden or empty', () => {
    for (const id of ['a', 't-disk-1a2b3c', 'pg_15-data', '0']) expect(validateDiskId(id)).toBe(id)
    for (const id of ['', '..', '../etc', 'a/b', '.hidden', '-x', '_x', 'A', 'a.img', 'a b', 'x'.repeat(65), 'a\0b']) {
      expect(() => validateDiskId(id), id).toThrow(/invalid disk id/)
    }
  })

  it('keeps every path of a disk inside the disks dir, the staging mount apart from any disk', () => {
    const p = diskPaths('/var/lib/dbroker/disks', 'redis-1')
    expect(p).toEqual({
      id: 'redis-1',
      image: '/var/lib/dbroker/disks/redis-1.img',
      fresh: '/var/lib/dbroker/disks/redis-1.img.new',
      old: '/var/lib/dbroker/disks/redis-1.img.old',
      mountPoint: '/var/lib/dbroker/disks/mnt/redis-1',
      staging: '/var/lib/dbroker/disks/mnt/.resize-redis-1',
    })
    expect(() => diskPaths('/d', '../../etc/passwd')).toThrow(/invalid disk id/)
  })

  it('finds disks by their image files only', () => {
    expect(diskIdsIn(['b.img', 'a.img', 'a.img.new', 'c.img.old', 'mnt', '.x.img', 'Bad.img', 'notes.txt'])).toEqual([
      'a',
      'b',
    ])
  })

  it('reads sizes in binary units, rounds up to 4 KiB blocks and refuses nonsense', () => {
    expect(parseDiskSize('128M')).toBe(128 * 2 ** 20)
    expect(parseDiskSize('1G')).toBe(2 ** 30)
    expect(parseDiskSize('1.5g')).toBe(1.5 * 2 ** 30)
    expect(parseDiskSize('256MiB')).toBe(256 * 2 ** 20)
    expect(parseDiskSize(' 2 GB ')).toBe(2 * 2 ** 30)
    expect(parseDiskSize(20_000_001)).toBe(20_000_001 + 4096 - (20_000_001 % 4096))
    for (const bad of ['', '1X', '-1G', 'G', '1e9', '15M', '17T', 0, Number.NaN])
      expect(() => parseDiskSize(bad), String(bad)).toThrow(/invalid disk size/)
  })

  it('names sizes in whole MiB, never understating', () => {
    expect(mib(128 * 2 ** 20)).toBe('128 MiB')
    expect(mib(128 * 2 ** 20 + 1)).toBe('129 MiB')
  })
})
