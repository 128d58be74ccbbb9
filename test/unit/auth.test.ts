import {describe, expect, it} from 'vitest'

import {basicAuthChecker} from '../../src/broker/auth.js'

const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`

describe('basic auth on the OSB API', () => {
  const authorized = basicAuthChecker({username: 'broker', password: 's3cret:with:colons'})

  it('lets the right user and password in', () => {
    expect(authorized(basic('broker:s3cret:with:colons'))).toBe(true)
  })

  it('refuses a wrong password, a wrong user, or a prefix of the right password', () => {
    expect(authorized(basic('broker:wrong'))).toBe(false)
    expect(authorized(basic('admin:s3cret:with:colons'))).toBe(false)
    expect(authorized(basic('broker:s3cret'))).toBe(false)
    expect(authorized(basic('broker:s3cret:with:colons '))).toBe(false)
  })

  it('refuses a missing header, another scheme and garbage', () => {
    for (const header of [undefined, '', 'Basic', 'Basic ', 'Bearer abc', 'basic ' + basic('broker:s3cret:with:colons').slice(6), 'Basic !!!not base64!!!', '\u0000']) {
      expect(authorized(header), JSON.stringify(header)).toBe(false)
    }
  })
})
