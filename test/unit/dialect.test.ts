import {describe, expect, it} from 'vitest'

import {inDialect, parseVersion} from '../../src/broker/dialect.js'

describe('X-Broker-API-Version', () => {
  it('accepts 2.13 to 2.17 and answers a newer 2.x as 2.17', () => {
    expect(parseVersion('2.13')).toBe(2.13)
    expect(parseVersion('2.14')).toBe(2.14)
    expect(parseVersion(' 2.17 ')).toBe(2.17)
    expect(parseVersion('2.18')).toBe(2.17)
    // Minors compare as numbers, not decimals: 2.20 is newer than 2.17, not 2.2.
    expect(parseVersion('2.20')).toBe(2.17)
    expect(parseVersion('2.100')).toBe(2.17)
  })

  it('refuses what is missing, older, another major or not a version', () => {
    for (const header of [undefined, '', '2.12', '2.1', '2.9', '1.17', '3.0', '2', '2.13.1', 'latest', 'v2.14']) {
      expect(parseVersion(header), String(header)).toBeUndefined()
    }
  })
})

describe('answering in the dialect asked for', () => {
  const body = {
    state: 'failed',
    description: 'boom',
    maintenance_info: {version: '1.0.0'},
    instance_usable: true,
    update_repeatable: true,
    endpoints: [{host: 'h', ports: ['1'], protocol: 'tcp'}],
    metadata: {labels: {}},
  }

  it('a 2.13 platform gets none of the fields introduced after 2.13', () => {
    expect(inDialect(body, 2.13)).toEqual({state: 'failed', description: 'boom'})
  })

  it('2.14 adds maintenance_info and the failed-update flags', () => {
    expect(Object.keys(inDialect(body, 2.14)).sort()).toEqual([
      'description',
      'instance_usable',
      'maintenance_info',
      'state',
      'update_repeatable',
    ])
  })

  it('2.15 adds binding endpoints, 2.16 metadata, and 2.17 keeps everything', () => {
    expect(Object.keys(inDialect(body, 2.15))).toContain('endpoints')
    expect(Object.keys(inDialect(body, 2.15))).not.toContain('metadata')
    expect(inDialect(body, 2.16)).toEqual(body)
    expect(inDialect(body, 2.17)).toEqual(body)
  })

  it('never changes the body it was given', () => {
    const copy = structuredClone(body)
    inDialect(body, 2.13)
    expect(body).toEqual(copy)
  })
})
