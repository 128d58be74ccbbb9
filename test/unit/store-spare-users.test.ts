import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {openStore, type Store} from '../../src/store/index.js'

const spare = (n: number) => ({username: `spare${n}`, password: `Pw0rdSpare${n}aabbccddeeff00112233`})

describe('claiming spare users: the delete is the claim', () => {
  let store: Store
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
  })
  afterEach(async () => {
    await store.close()
  })

  it('hands out the oldest spare user of the instance, once, and none of another instance', async () => {
    await store.addSpareUser('i1', spare(2), 2)
    await store.addSpareUser('i1', spare(1), 1)
    await store.addSpareUser('other', spare(9), 0)
    expect(await store.claimSpareUser('i1')).toEqual(spare(1))
    expect(await store.claimSpareUser('i1')).toEqual(spare(2))
    expect(await store.claimSpareUser('i1')).toBeUndefined()
    expect(await store.spareUsers('other')).toEqual([spare(9)])
  })

  it('claims racing for the same oldest row each get a different user: the losers of a delete take the next', async () => {
    for (const n of [1, 2, 3]) await store.addSpareUser('i1', spare(n), n)
    // The three claims read the same oldest row before any deletes it.
    const claimed = await Promise.all([
      store.claimSpareUser('i1'),
      store.claimSpareUser('i1'),
      store.claimSpareUser('i1'),
    ])
    expect(claimed.map((user) => user?.username).sort()).toEqual(['spare1', 'spare2', 'spare3'])
    expect(await store.spareUsers('i1')).toEqual([])
  })

  it('two stores on one database file never hand out the same user', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-spares-'))
    const url = `sqlite:${path.join(dir, 'store.db')}`
    const first = await openStore(url)
    const second = await openStore(url)
    try {
      for (const n of [1, 2, 3, 4]) await first.addSpareUser('i1', spare(n), n)
      const claimed = await Promise.all([
        first.claimSpareUser('i1'),
        second.claimSpareUser('i1'),
        first.claimSpareUser('i1'),
        second.claimSpareUser('i1'),
      ])
      const names = claimed.flatMap((user) => (user ? [user.username] : []))
      expect(new Set(names).size).toBe(names.length)
      expect(names.length + (await first.spareUsers('i1')).length).toBe(4)
    } finally {
      await first.close()
      await second.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('deleting the instance takes its spare users with it', async () => {
    await store.addSpareUser('i1', spare(1), 1)
    await store.deleteInstance('i1')
    expect(await store.claimSpareUser('i1')).toBeUndefined()
  })
})
