import {describe, expect, it} from 'vitest'

import {parseBytes, parseDuration} from '../../src/catalog/units.js'

describe('sizes in the catalog', () => {
  it('reads k, m, g, t with optional i/b, any case, and plain byte counts', () => {
    expect(parseBytes('512k')).toBe(512 * 1024)
    expect(parseBytes('256m')).toBe(256 * 1024 ** 2)
    expect(parseBytes('1g')).toBe(1024 ** 3)
    expect(parseBytes('1.5G')).toBe(1.5 * 1024 ** 3)
    expect(parseBytes('2GiB')).toBe(2 * 1024 ** 3)
    expect(parseBytes('64mb')).toBe(64 * 1024 ** 2)
    expect(parseBytes('1t')).toBe(1024 ** 4)
    expect(parseBytes('4096')).toBe(4096)
    expect(parseBytes(1000)).toBe(1000)
  })

  it('refuses what is not a positive size', () => {
    for (const value of ['', 'abc', '1x', '-1m', 'm', '1 g b', '1p']) expect(parseBytes(value), value).toBeUndefined()
    for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(parseBytes(value), String(value)).toBeUndefined()
  })
})

describe('durations in the catalog', () => {
  it('reads ms, s, m, h and milliseconds as a number', () => {
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration('2m')).toBe(120_000)
    expect(parseDuration('1h')).toBe(3_600_000)
    expect(parseDuration(250)).toBe(250)
    expect(parseDuration(0)).toBe(0)
  })

  it('refuses what is not a duration', () => {
    for (const value of ['', '30', '1d', 'soon', '-1s', '1 minute']) expect(parseDuration(value), value).toBeUndefined()
    expect(parseDuration(-5)).toBeUndefined()
  })
})
