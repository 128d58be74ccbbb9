import {describe, expect, it} from 'vitest'

import {placeInstance} from '../../src/broker/placement.js'
import {loadCatalog} from '../../src/catalog/index.js'
import type {Host} from '../../src/core/types.js'
import {NOW, placementHost, refusal} from '../helpers/placement.js'

const KEEPALIVE = 1000
const redis = loadCatalog().plan('9224c565-e657-4b4e-8048-c400aea5257c')!.plan

const host = placementHost

const place = (
  hosts: Host[],
  counts: Record<string, number>,
  strategy: 'spread' | 'binpack',
  used: Record<string, number> = {},
) =>
  placeInstance(hosts, new Map(Object.entries(counts)), new Map(Object.entries(used)), redis, {
    strategy,
    keepaliveMs: KEEPALIVE,
    now: NOW,
  })

describe('placing a new instance', () => {
  const hosts = [host('a'), host('b'), host('c')]

  it('spread puts it on the least loaded host, ties broken by id', () => {
    expect(place(hosts, {a: 3, b: 1, c: 2}, 'spread').id).toBe('b')
    expect(place(hosts, {}, 'spread').id).toBe('a')
  })

  it('binpack puts it on the most loaded host that still has room', () => {
    expect(place(hosts, {a: 3, b: 1, c: 2}, 'binpack').id).toBe('a')
    expect(place(hosts, {a: 3, b: 1, c: 2}, 'binpack', {a: 10}).id).toBe('c')
  })

  it('skips a host that missed its heartbeats or is marked dead', () => {
    const stale = host('a', {lastHeartbeat: NOW - KEEPALIVE * 3 - 1})
    const dead = host('b', {status: 'dead'})
    expect(place([stale, dead, host('c')], {c: 5}, 'spread').id).toBe('c')
    // Two misses are still alive: a slow heartbeat is not a dead host.
    expect(place([host('a', {lastHeartbeat: NOW - KEEPALIVE * 2})], {}, 'spread').id).toBe('a')
  })

  it('skips a drained host', () => {
    expect(place([host('a', {drained: true}), host('b')], {b: 9}, 'spread').id).toBe('b')
  })

  it('no host at all, or none eligible, is a 503 that says why', () => {
    expect(refusal(() => place([], {}, 'spread')).message).toBe(
      'no host can take this instance: no host has registered',
    )
    const error = refusal(() => place([host('a', {drained: true}), host('b', {status: 'dead'})], {}, 'spread'))
    expect(error.status).toBe(503)
    expect(error.message).toMatch(/none of 2 hosts is alive/)
  })

  it('a full port range names the host and its range', () => {
    const error = refusal(() => place([host('local', {portMin: 41000, portMax: 41000})], {}, 'spread', {local: 1}))
    expect(error.status).toBe(503)
    expect(error.message).toMatch(/^no host can take this instance: /)
    expect(error.message).toMatch(/host local.*41000-41000.*full|host local.*full.*41000-41000/)
    expect(refusal(() => place(hosts, {}, 'spread', {a: 10, b: 10, c: 10})).message).toMatch(/every host is full/)
  })
})
