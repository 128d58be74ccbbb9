import {describe, expect, it} from 'vitest'

import {agentAnswer, containerPath, describeIssues, registerBody} from '../../src/core/protocol.js'
import {legacySpecHash, madeFrom, specHash} from '../../src/core/spec-hash.js'
import type {ContainerSpec} from '../../src/core/types.js'

const registration = {
  id: 'h1',
  agentUrl: 'https://h1.example:9997',
  serviceAddress: 'h1.example',
  bindAddress: '0.0.0.0',
  portRange: [40000, 40010],
  facts: null,
}

const spec: ContainerSpec = {
  instanceId: 'i1',
  name: 'dbroker-abc-redis_i1',
  image: 'dbroker/redis:7',
  env: {REDIS_PASSWORD: 'secret', A_FIRST: '1'},
  ports: [{container: 6379, host: 40000, protocol: 'tcp'}],
  bindAddress: '127.0.0.1',
  volumes: [{name: 'dbroker-abc-i1-0', path: '/data'}],
  restart: 'unless-stopped',
  labels: {'dbroker.service': 'redis', 'dbroker.plan': 'small'},
  readiness: {probe: 'tcp', port: 6379, timeoutMs: 30_000},
  hooks: {},
}

/** The same object with every object's keys in reverse order, at every depth. */
function reversed<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversed) as T
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversed(v)]),
    ) as T
  return value
}

describe('the registration a host sends', () => {
  it('a 1 MB label is refused, and the error names the field', () => {
    const result = registerBody.safeParse({...registration, labels: {disk: 'x'.repeat(1_000_000)}})
    expect(result.success).toBe(false)
    expect(describeIssues(result.error!.issues)).toMatch(/^labels\.disk: Too big: expected string to have <=256/)
  })

  it('more labels than the cap, a long label key, too many containers or applied ids: each refused by name', () => {
    const cases: Array<[object, RegExp]> = [
      [{labels: Object.fromEntries(Array.from({length: 33}, (_, i) => [`k${i}`, 'v']))}, /^labels: at most 32 labels/],
      [{labels: {['k'.repeat(64)]: 'v'}}, /^labels\.k+: a label name has at most 63 characters/],
      [{containers: Array.from({length: 4097}, () => ({instanceId: 'i', status: 'running'}))}, /^containers: Too big/],
      [{applied: Array.from({length: 2}, () => 'i'.repeat(256))}, /^applied\.0: Too big/],
      [{agentUrl: `https://h1.example/${'p'.repeat(2048)}`}, /^agentUrl: Too big/],
    ]
    for (const [extra, message] of cases) {
      const result = registerBody.safeParse({...registration, ...extra})
      expect(result.success, String(message)).toBe(false)
      expect(describeIssues(result.error!.issues)).toMatch(message)
    }
  })

  it('what an agent sends today passes, with the defaults filled in', () => {
    expect(registerBody.parse(registration)).toMatchObject({zone: null, labels: {}, containers: [], applied: []})
  })
})

describe("the broker's answer", () => {
  it('carries whole specs; one missing its image is refused by field', () => {
    expect(agentAnswer.parse({keepaliveMs: 1000, installation: 'a1b2c3d4e5f6', specs: [spec]}).specs).toEqual([spec])
    const {image: _image, ...noImage} = spec
    const result = agentAnswer.safeParse({keepaliveMs: 1000, installation: 'a1b2c3d4e5f6', specs: [noImage]})
    expect(describeIssues(result.error!.issues)).toMatch(/^specs\.0\.image: /)
  })
})

describe('specHash', () => {
  it('is the same whatever order the keys come in, at any depth', () => {
    const shuffled = reversed(spec)
    expect(JSON.stringify(shuffled)).not.toBe(JSON.stringify(spec))
    expect(specHash(shuffled)).toBe(specHash(spec))
  })

  it('undefined fields are as good as absent; a changed value is another hash', () => {
    expect(specHash({...spec, command: undefined})).toBe(specHash(spec))
    expect(specHash({...spec, env: {...spec.env, A_FIRST: '2'}})).not.toBe(specHash(spec))
    // What dbroker reads itself (readiness, hooks) recreates nothing.
    expect(specHash({...spec, readiness: {probe: 'none', timeoutMs: 1}})).toBe(specHash(spec))
  })

  it('a container labelled before the canonical hash is recognised as made from its spec, and only from it', () => {
    const label = legacySpecHash(spec)
    expect(label).not.toBe(specHash(spec))
    expect(madeFrom(spec, label)).toBe(true)
    expect(madeFrom(spec, specHash(reversed(spec)))).toBe(true)
    expect(madeFrom({...spec, image: 'dbroker/redis:8'}, label)).toBe(false)
    expect(madeFrom(spec, undefined)).toBe(false)
  })
})

describe('the agent API routes', () => {
  it('names a container by its instance id, escaped', () => {
    expect(containerPath('deploy:d:h1:web', 'logs')).toBe('/containers/deploy%3Ad%3Ah1%3Aweb/logs')
    expect(containerPath('i1')).toBe('/containers/i1')
  })
})
