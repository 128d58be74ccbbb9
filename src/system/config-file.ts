import {readFileSync} from 'node:fs'

import {LineCounter, parseDocument, type Node as YamlNode} from 'yaml'
import type {z} from 'zod'

import {UsageError} from '../core/errors.js'

export class ConfigError extends UsageError {
  constructor(
    readonly file: string,
    readonly problems: Array<{path: string; line?: number; message: string}>,
  ) {
    super(
      `invalid configuration ${file}:\n` +
        problems.map((p) => `  ${p.line ? `line ${p.line}: ` : ''}${p.path || '(document)'}: ${p.message}`).join('\n'),
    )
  }
}

const formatPath = (segments: PropertyKey[]) =>
  segments.reduce<string>(
    (out, s) => (typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${String(s)}` : String(s)),
    '',
  )

/** Sets each defined leaf of `overrides` into `target`, creating objects on the way. */
function overlay(target: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const inner = target[key] && typeof target[key] === 'object' ? (target[key] as Record<string, unknown>) : {}
      target[key] = overlay(inner, value as Record<string, unknown>)
    } else {
      target[key] = value
    }
  }
  return target
}

/**
 * A YAML config file with command-line flags over it, validated by `schema`.
 * Errors name the field, and the line when the value came from the file (as
 * the catalog loader does); a flag's value wins over the file's.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  file: string | undefined,
  overrides: Record<string, unknown>,
): z.output<S> {
  const where = file ?? 'from flags'
  const lineCounter = new LineCounter()
  let doc: ReturnType<typeof parseDocument> | undefined
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      throw new UsageError(
        `cannot read the configuration ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
    doc = parseDocument(text, {lineCounter, prettyErrors: false})
    if (doc.errors.length > 0) {
      throw new ConfigError(
        file,
        doc.errors.map((e) => ({
          path: '',
          line: lineCounter.linePos(e.pos[0]).line,
          message: e.message.split('\n')[0],
        })),
      )
    }
  }
  const fromFile = (doc?.toJS() ?? {}) as unknown
  if (fromFile === null || typeof fromFile !== 'object' || Array.isArray(fromFile))
    throw new ConfigError(where, [{path: '', line: 1, message: 'must be a mapping of settings'}])
  // A setting missing inside a mapping is reported at that mapping; one missing at the top has no line.
  const lineOf = (segments: PropertyKey[]): number | undefined => {
    for (let n = segments.length; n > 0; n--) {
      const node = doc?.getIn(segments.slice(0, n), true) as YamlNode | undefined
      if (node && typeof node === 'object' && 'range' in node && node.range)
        return lineCounter.linePos(node.range[0]).line
    }
    return undefined
  }
  const result = schema.safeParse(overlay(fromFile as Record<string, unknown>, overrides))
  if (!result.success) {
    throw new ConfigError(
      where,
      result.error.issues.map((issue) => {
        const keys = issue.code === 'unrecognized_keys' ? (issue as {keys: string[]}).keys : []
        const path = keys.length > 0 ? [...(issue.path as PropertyKey[]), keys[0]] : (issue.path as PropertyKey[])
        return {path: formatPath(path), line: lineOf(path), message: issue.message}
      }),
    )
  }
  return result.data
}
