import {describe, expect, it} from 'vitest'

import {dependentsOf, findCycle, startOrder} from '../../src/manifest/plan.js'

const node = (name: string, ...dependsOn: string[]) => ({name, dependsOn})

describe("start order and dependents of a host's containers", () => {
  it('starts every container after what it depends on, keeping the manifest order otherwise', () => {
    // web -> app -> (redis, db); metrics depends on nothing and keeps its place.
    const nodes = [node('web', 'app'), node('metrics'), node('app', 'redis', 'db'), node('redis'), node('db')]
    expect(startOrder(nodes)).toEqual(['metrics', 'redis', 'db', 'app', 'web'])
    expect(startOrder([node('a'), node('b'), node('c')])).toEqual(['a', 'b', 'c'])
    // A container starts as soon as what it needs runs, before those listed after it.
    expect(startOrder([node('x', 'a'), node('a'), node('y')])).toEqual(['a', 'x', 'y'])
    expect(startOrder([])).toEqual([])
  })

  it('lists, for each container, what restarts after it: direct and indirect dependents, in start order', () => {
    const nodes = [
      node('redis'),
      node('worker', 'redis'),
      node('app', 'redis'),
      node('web', 'app', 'worker'),
      node('cron'),
    ]
    const dependents = dependentsOf(nodes)
    expect(Object.fromEntries(dependents)).toEqual({
      redis: ['worker', 'app', 'web'],
      worker: ['web'],
      app: ['web'],
      web: [],
      cron: [],
    })
  })

  it('finds a cycle and says it as a path; startOrder refuses one', () => {
    expect(findCycle([node('a', 'b'), node('b', 'c'), node('c', 'b')])).toEqual(['b', 'c', 'b'])
    expect(findCycle([node('a', 'a')])).toEqual(['a', 'a'])
    expect(findCycle([node('a', 'b'), node('b'), node('c', 'a', 'b')])).toBeUndefined()
    expect(() => startOrder([node('x', 'y'), node('y', 'x')])).toThrow('dependency cycle x -> y -> x')
  })

  it('ignores a dependency on a name it does not know (the loader reports those)', () => {
    expect(startOrder([node('a', 'gone'), node('b', 'a')])).toEqual(['a', 'b'])
  })
})
