import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

// Each image is built from its own directory, so the JSON form's reader is copied into each.
describe('the JSON document reader of the images', () => {
  it('is the same file in images/redis and images/postgresql', () => {
    const copy = (image: string) =>
      readFileSync(new URL(`../../images/${image}/hook-input.sh`, import.meta.url), 'utf8')
    expect(copy('postgresql')).toBe(copy('redis'))
  })
})
