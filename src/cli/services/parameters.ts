import {readFileSync} from 'node:fs'

import {UsageError} from '../../core/errors.js'

/** `-c '{"k":1}'` or `-c @file.json` -> parameters. */
export function parseParameters(value: string | undefined): Record<string, unknown> {
  if (!value) return {}
  let text = value
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8')
    } catch (error) {
      throw new UsageError(
        `cannot read the parameters file ${value.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UsageError(
      `-c must be a JSON object or @file with one; got ${value.length > 40 ? `${value.slice(0, 40)}...` : value}`,
    )
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('-c must be a JSON object')
  return parsed as Record<string, unknown>
}
