import type {FastifyInstance} from 'fastify'
import {z} from 'zod'

import {codePoint, findControlChar} from '../core/control-chars.js'
import {badRequest} from '../core/errors.js'

/** What the broker stores of a request, at most: each cap is a 400 naming the field. */
export const LIMITS = {
  id: 255,
  parameters: 64 * 1024,
  context: 16 * 1024,
  bindResource: 16 * 1024,
  originatingIdentity: 4096,
  requestIdentity: 255,
} as const

const KIB = (bytes: number) => `${bytes / 1024} KiB`

/** Why `value` can't be an id or a name (ids, GUIDs, names); undefined when it can. */
export function idProblem(field: string, value: string): string | undefined {
  if (value.length > LIMITS.id) return `${field} is longer than ${LIMITS.id} characters`
  const control = findControlChar(value)
  if (control)
    return `${field} contains the control character ${codePoint(control.char)} at position ${control.index}; ids and names are printable text`
  return undefined
}

export function checkId(field: string, value: string): void {
  const problem = idProblem(field, value)
  if (problem) throw badRequest(problem)
}

/** Names (`instance_name`, `space_name`, ...) are one line; other strings in a document may hold tabs and line breaks. */
const isNameKey = (key: string) => /(^|_)name$/.test(key)

/** The first control character in a JSON document's keys or strings, with its path. */
function documentProblem(field: string, value: unknown, key = ''): string | undefined {
  if (typeof value === 'string') {
    const control = findControlChar(value, {allowLineBreaks: !isNameKey(key)})
    return control && `${field} contains the control character ${codePoint(control.char)} at position ${control.index}`
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const problem = documentProblem(`${field}[${i}]`, item, key)
      if (problem) return problem
    }
    return undefined
  }
  if (value && typeof value === 'object') {
    for (const [k, item] of Object.entries(value)) {
      const control = findControlChar(k)
      if (control) return `${field} has a key with the control character ${codePoint(control.char)}`
      const problem = documentProblem(`${field}.${k.length > 40 ? `${k.slice(0, 40)}…` : k}`, item, k)
      if (problem) return problem
    }
  }
  return undefined
}

/** Levels of objects and arrays a stored document may nest: the hooks' jq and every walk of it stay far from their limits. */
export const MAX_DOCUMENT_DEPTH = 32

/** Whether `value` nests objects and arrays deeper than `max` levels; walks with its own stack, so any depth is safe. */
function deeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!
    if (!item || typeof item !== 'object') continue
    if (depth > max) return true
    for (const inner of Array.isArray(item) ? item : Object.values(item)) stack.push([inner, depth + 1])
  }
  return false
}

/**
 * A stored JSON document (parameters, context, bind_resource): at most MAX_DOCUMENT_DEPTH levels deep (checked first:
 * the size and character checks walk it recursively), at most `maxBytes` as JSON, no control characters.
 */
export function documentCheck(field: string, maxBytes: number) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    if (deeperThan(value, MAX_DOCUMENT_DEPTH)) {
      ctx.addIssue({code: 'custom', message: `${field} is nested deeper than ${MAX_DOCUMENT_DEPTH} levels`})
      return
    }
    const size = Buffer.byteLength(JSON.stringify(value))
    if (size > maxBytes)
      ctx.addIssue({
        code: 'custom',
        message: `${field} is ${size} bytes as JSON, more than the ${KIB(maxBytes)} allowed`,
      })
    else {
      const problem = documentProblem(field, value)
      if (problem) ctx.addIssue({code: 'custom', message: problem})
    }
  }
}

/** An id-like body field: at most 255 characters, printable, and not empty unless `allowEmpty` (app_guid was always allowed ""). */
export function idField(field: string, options: {allowEmpty?: boolean} = {}) {
  return z
    .string({error: `${field} is required`})
    .min(options.allowEmpty ? 0 : 1, `${field} must not be empty`)
    .superRefine((value, ctx) => {
      const problem = idProblem(field, value)
      if (problem) ctx.addIssue({code: 'custom', message: problem})
    })
}

/** The OSB headers the broker records (originating identity, request identity), capped and printable. */
export function checkRecordedHeaders(headers: Record<string, string | string[] | undefined>): void {
  for (const [name, max] of [
    ['x-broker-api-originating-identity', LIMITS.originatingIdentity],
    ['x-broker-api-request-identity', LIMITS.requestIdentity],
  ] as const) {
    const value = headers[name]
    if (typeof value !== 'string') continue
    if (value.length > max) throw badRequest(`the ${name} header is longer than ${max} characters`)
    const control = findControlChar(value)
    if (control) throw badRequest(`the ${name} header contains the control character ${codePoint(control.char)}`)
  }
}

/** The admin routes that answer with a response that lasts: the event stream and logs. */
const isStream = (route: string | undefined) =>
  route !== undefined && /^\/admin\/v1\/(events|instances\/:[^/]+\/logs)$/.test(route)

/**
 * At most `perClient` event and log streams open at once per client address;
 * one more is a 429, so no client can hold the broker's memory and sockets.
 */
export function capStreams(app: FastifyInstance, options: {perClient?: number} = {}): void {
  const perClient = options.perClient ?? 8
  const open = new Map<string, number>()
  app.addHook('onRequest', async (request, reply) => {
    if (!isStream(request.routeOptions.url)) return
    const ip = request.ip
    const count = open.get(ip) ?? 0
    if (count >= perClient)
      return reply
        .code(429)
        .header('Retry-After', '5')
        .send({description: `at most ${perClient} event and log streams per client are open at once; close one first`})
    open.set(ip, count + 1)
    reply.raw.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1
      if (left > 0) open.set(ip, left)
      else open.delete(ip)
    })
  })
}
