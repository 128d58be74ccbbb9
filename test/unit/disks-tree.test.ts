import {execFileSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {digestTree} from '../../src/agent/disks/tree.js'

describe('digestTree', () => {
  let dir: string
  const digest = async () => (await digestTree(dir, {contents: true})).sha256
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-tree-'))
    mkdirSync(path.join(dir, 'a/b'), {recursive: true})
    writeFileSync(path.join(dir, 'a/b/file'), 'contents')
    symlinkSync('b/file', path.join(dir, 'a/link'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('counts entries and bytes', async () => {
    expect(await digestTree(dir, {contents: true})).toMatchObject({
      entries: 4,
      contentBytes: 8,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect((await digestTree(dir, {contents: false})).sha256).toBeUndefined()
  })

  it('changes with contents, modes, link targets and names', async () => {
    const seen = new Set([await digest()])
    writeFileSync(path.join(dir, 'a/b/file'), 'contentz')
    seen.add(await digest())
    chmodSync(path.join(dir, 'a/b/file'), 0o600)
    seen.add(await digest())
    unlinkSync(path.join(dir, 'a/link'))
    symlinkSync('elsewhere', path.join(dir, 'a/link'))
    seen.add(await digest())
    execFileSync('mv', [path.join(dir, 'a/b/file'), path.join(dir, 'a/b/other')])
    seen.add(await digest())
    expect(seen.size).toBe(5)
  })

  it('does not change with a directory that grew and shrank, and does not block on a FIFO', async () => {
    const before = await digest()
    for (let i = 0; i < 300; i++) writeFileSync(path.join(dir, 'a', `f${i}`), '')
    for (let i = 0; i < 300; i++) unlinkSync(path.join(dir, 'a', `f${i}`))
    expect(await digest()).toBe(before)
    execFileSync('mkfifo', [path.join(dir, 'a/fifo')])
    expect(await digest()).not.toBe(before)
  })
})
