import {describe, expect, it} from 'vitest'

import {MAX_DOCUMENT_DEPTH} from '../../src/broker/limits.js'
import {bindBody, provisionBody} from '../../src/broker/osb-schema.js'

const ids = {service_id: 's', plan_id: 'p', organization_guid: 'o', space_guid: 's'}
/** `{"x": [[[ ... ]]]}` with `levels` levels of objects and arrays in all. */
const nested = (levels: number) => JSON.parse(`{"x":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`) as object
const messages = (result: {success: boolean; error?: {issues: Array<{message: string}>}}) =>
  result.error?.issues.map((i) => i.message) ?? []

describe('stored documents: how deep they may nest', () => {
  it(`parameters and context up to ${MAX_DOCUMENT_DEPTH} levels pass, one deeper is a 400 naming the field`, () => {
    expect(provisionBody.safeParse({...ids, parameters: nested(MAX_DOCUMENT_DEPTH)}).success).toBe(true)
    expect(messages(provisionBody.safeParse({...ids, parameters: nested(MAX_DOCUMENT_DEPTH + 1)}))).toEqual([
      `parameters is nested deeper than ${MAX_DOCUMENT_DEPTH} levels`,
    ])
    expect(messages(bindBody.safeParse({service_id: 's', plan_id: 'p', context: nested(40)}))).toEqual([
      `context is nested deeper than ${MAX_DOCUMENT_DEPTH} levels`,
    ])
  })

  it('a document nested 100000 deep (600 KB) is refused by the depth check, not by a stack overflow', () => {
    // JSON.parse copes with this depth; every recursive walk after it would not.
    const deep = nested(100_000)
    const result = provisionBody.safeParse({...ids, parameters: deep})
    expect(messages(result)).toEqual([`parameters is nested deeper than ${MAX_DOCUMENT_DEPTH} levels`])
  })
})
