import {afterEach, describe, expect, it, vi} from 'vitest'

import {placeInstance, type PlacementStrategy} from '../../src/broker/placement.js'
import {loadCatalog, type PlanDef} from '../../src/catalog/index.js'
import type {Host} from '../../src/core/types.js'
import {NOW, placementHost, refusal} from '../helpers/placement.js'

const redis = loadCatalog().plan('9224c565-e657-4b4e-8048-c400aea5257c')!.plan

const host = placementHost

const withRule = (placement: PlanDef['placement'], memory?: number): PlanDef => ({
  ...redis,
  placement,
  container: {...redis.container!, ...(memory === undefined ? {} : {memory})},
})

function place(
  hosts: Host[],
  plan: PlanDef,
  {
    counts = {},
    memory = {},
    strategy = 'spread',
  }: {counts?: Record<string, number>; memory?: Record<string, number>; strategy?: PlacementStrategy} = {},
) {
  return placeInstance(hosts, new Map(Object.entries(counts)), new Map(), plan, {
    strategy,
    keepaliveMs: 1000,
    now: NOW,
    memory: new Map(Object.entries(memory)),
  })
}

describe("a plan's placement rule", () => {
  it('zones: only a host in one of them takes the instance, however loaded the others are', () => {
    const plan = withRule({zones: ['eu-1', 'eu-2'], labels: {}})
    const hosts = [host('a', {zone: 'us-1'}), host('b', {zone: 'eu-2'}), host('c')]
    expect(place(hosts, plan, {counts: {b: 7}}).id).toBe('b')
  })

  it('labels: a host needs every label with its value', () => {
    const plan = withRule({labels: {disk: 'ssd', tier: 'gold'}})
    const hosts = [
      host('a', {labels: {disk: 'ssd'}}),
      host('b', {labels: {disk: 'hdd', tier: 'gold'}}),
      host('c', {labels: {disk: 'ssd', tier: 'gold', extra: 'x'}}),
    ]
    expect(place(hosts, plan).id).toBe('c')
  })

  it('no matching host is a 503 naming each host and what the plan wants', () => {
    const plan = withRule({zones: ['eu-1'], labels: {disk: 'ssd'}})
    const error = refusal(() => place([host('a', {zone: 'eu-1'}), host('b', {zone: 'us-1'})], plan))
    expect(error.status).toBe(503)
    expect(error.message).toContain('a: without the labels')
    expect(error.message).toContain('b: not in the zone')
    expect(error.message).toContain('wants zone eu-1, disk=ssd')
  })
})

describe("a host's announced capacity", () => {
  it('maxContainers: a host at its limit is full, the next one takes the instance', () => {
    const capped = host('a', {capacity: {maxContainers: 2, memoryBytes: null}})
    expect(place([capped, host('b')], redis, {counts: {a: 1, b: 5}}).id).toBe('a')
    expect(place([capped, host('b')], redis, {counts: {a: 2, b: 5}}).id).toBe('b')
  })

  it("memoryBytes: the plan's memory limit must fit beside what the host already runs", () => {
    const plan = withRule(undefined, 256 * 2 ** 20)
    const small = host('a', {capacity: {maxContainers: null, memoryBytes: 512 * 2 ** 20}})
    expect(place([small], plan, {memory: {a: 256 * 2 ** 20}}).id).toBe('a')
    const error = refusal(() => place([small], plan, {memory: {a: 257 * 2 ** 20}}))
    expect(error.message).toMatch(/host a is full/)
  })
})

describe('the random strategy', () => {
  afterEach(() => vi.restoreAllMocks())

  it('picks among the eligible hosts only, uniformly by the random draw', () => {
    const hosts = [host('a'), host('b', {drained: true}), host('c'), host('d', {status: 'dead'})]
    const random = vi.spyOn(Math, 'random')
    random.mockReturnValueOnce(0)
    expect(place(hosts, redis, {strategy: 'random'}).id).toBe('a')
    random.mockReturnValueOnce(0.99)
    expect(place(hosts, redis, {strategy: 'random'}).id).toBe('c')
  })
})
