import {createHash} from 'node:crypto'
import {createReadStream, type Stats} from 'node:fs'
import {lstat, readdir, readlink} from 'node:fs/promises'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

/** What a disk's data is, independent of the filesystem it lives on. */
export interface TreeDigest {
  /** Entries below the root (files, directories, links, ...). */
  entries: number
  /** Bytes of regular file contents. */
  contentBytes: number
  /** Bytes the entries occupy on their filesystem (what a new disk must hold). */
  allocatedBytes: number
  /** sha256 over every entry's path, type, mode, owner and contents (regular files) or target (links). */
  sha256?: string
}

function kind(s: Stats): string {
  if (s.isFile()) return 'f'
  if (s.isDirectory()) return 'd'
  if (s.isSymbolicLink()) return 'l'
  if (s.isFIFO()) return 'p'
  if (s.isSocket()) return 's'
  return s.isCharacterDevice() ? 'c' : 'b'
}

async function contentHash(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

/**
 * Walks a tree without following links. Directory sizes are left out of the checksum
 * (they depend on the directory's history, not its contents); only regular files are read,
 * so a FIFO or device a tenant leaves in its disk can't block or steer the walk.
 */
export async function digestTree(root: string, options: {contents: boolean}): Promise<TreeDigest> {
  const total = options.contents ? createHash('sha256') : undefined
  const result: TreeDigest = {entries: 0, contentBytes: 0, allocatedBytes: 0}
  const pending = ['.']
  for (let next = 0; next < pending.length; next++) {
    const relative = pending[next]
    const full = path.join(root, relative)
    const s = await lstat(full)
    const type = kind(s)
    if (relative !== '.') {
      result.entries++
      result.allocatedBytes += s.blocks * 512
    }
    if (total) {
      let detail = ''
      if (type === 'f') detail = `${s.size}:${await contentHash(full)}`
      else if (type === 'l') detail = await readlink(full)
      else if (type === 'c' || type === 'b') detail = String(s.rdev)
      total.update(`${relative}\0${type}\0${s.mode}\0${s.uid}\0${s.gid}\0${detail}\n`)
    }
    if (type === 'f') result.contentBytes += s.size
    if (type === 'd') {
      const names = (await readdir(full)).sort()
      pending.push(...names.map((name) => (relative === '.' ? name : path.join(relative, name))))
    }
  }
  if (total) result.sha256 = total.digest('hex')
  return result
}
