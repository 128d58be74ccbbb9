import {describe, expect, it} from 'vitest'

import {etagMatches, originatingIdentity} from '../../src/broker/osb.js'
import {canonical} from '../../src/broker/lifecycle/index.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64')

describe('X-Broker-API-Originating-Identity', () => {
  it('decodes the platform and its base64 JSON user for the audit record', () => {
    expect(originatingIdentity(`cloudfoundry ${b64({user_id: '683ea748-3092-4ff4-b656-39cacc4d5360'})}`)).toBe(
      'cloudfoundry {"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}',
    )
    expect(originatingIdentity(`kubernetes ${b64({username: 'duke', uid: 'c2dde242', groups: ['admin']})}`)).toBe(
      'kubernetes {"username":"duke","uid":"c2dde242","groups":["admin"]}',
    )
  })

  it('never fails: absent is null, a platform alone or an undecodable value is kept as sent', () => {
    expect(originatingIdentity(undefined)).toBeNull()
    expect(originatingIdentity('')).toBeNull()
    expect(originatingIdentity('cloudfoundry')).toBe('cloudfoundry')
    expect(originatingIdentity('cloudfoundry %%%not-base64-json')).toBe('cloudfoundry %%%not-base64-json')
    expect(originatingIdentity(`cloudfoundry ${Buffer.from('{"user_id":').toString('base64')}`)).toMatch(
      /^cloudfoundry /,
    )
  })
})

describe('canonical request keys', () => {
  it('two requests with the same keys in another order are identical', () => {
    expect(canonical({b: 1, a: {d: [1, {z: 1, y: 2}], c: 'x'}})).toBe(
      canonical({a: {c: 'x', d: [1, {y: 2, z: 1}]}, b: 1}),
    )
    expect(canonical({b: 1, a: 2})).toBe('{"a":2,"b":1}')
  })

  it('undefined fields are as good as absent; null, arrays order and values still count', () => {
    expect(canonical({a: 1, b: undefined})).toBe(canonical({a: 1}))
    expect(canonical({a: null})).not.toBe(canonical({}))
    expect(canonical([1, 2])).not.toBe(canonical([2, 1]))
    expect(canonical({a: '1'})).not.toBe(canonical({a: 1}))
    expect(canonical(undefined)).toBe('null')
  })
})

describe('If-None-Match on the catalog', () => {
  const etag = '"abc"'
  it('matches the tag itself, a weak copy of it, one of a list, or *', () => {
    for (const header of ['"abc"', 'W/"abc"', '"old", "abc"', '"old",W/"abc"', '*'])
      expect(etagMatches(header, etag), header).toBe(true)
  })
  it('does not match another tag, a tag without quotes, or nothing', () => {
    for (const header of [undefined, '', '"abcd"', 'abc', '"old"'])
      expect(etagMatches(header, etag), String(header)).toBe(false)
  })
})
