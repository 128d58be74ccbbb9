import {readFileSync} from 'node:fs'

import {z} from 'zod'

import {parseBytes, parseDuration} from '../catalog/units.js'
import {UsageError} from '../core/errors.js'

/** Field types shared by the agent's and the broker's configuration. */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseDuration(typeof value === 'number' ? `${value}s` : value)
  if (parsed === undefined || parsed <= 0)
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a duration (e.g. 500ms, 5s, 1m; a bare number is seconds)`,
    })
  return parsed ?? 0
})

export const bytes = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseBytes(value)
  if (parsed === undefined) ctx.addIssue({code: 'custom', message: `"${value}" is not a size (e.g. 512m, 4g)`})
  return parsed ?? 0
})

/** `HOST:PORT`, `[V6]:PORT` or a bare port. */
export const listenAddress = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const match = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(String(value))
  const port = match ? Number(match[2]) : NaN
  if (!match || port > 65535) {
    ctx.addIssue({code: 'custom', message: `"${value}" is not HOST:PORT`})
    return {host: '', port: 0}
  }
  return {host: match[1] || '0.0.0.0', port}
})

export const portRange = z.string().transform((value, ctx): [number, number] => {
  const match = /^(\d+)-(\d+)$/.exec(value)
  const [min, max] = match ? [Number(match[1]), Number(match[2])] : [0, 0]
  if (!match || min < 1 || max > 65535 || min > max)
    ctx.addIssue({code: 'custom', message: `"${value}" is not MIN-MAX within 1-65535`})
  return [min, max]
})

export const credentials = z.strictObject({
  username: z.string().min(1),
  password: z.string().min(8, 'use at least 8 characters'),
})

export const tlsFiles = z.strictObject({cert: z.string().min(1), key: z.string().min(1)})

/** Reads a PEM file named by the configuration, failing with the setting's name. */
export function readPem(file: string, setting: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(
      `cannot read ${setting} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
}

/** `k=v` flags to a record. */
export function parseLabels(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs || pairs.length === 0) return undefined
  const labels: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at < 1) throw new UsageError(`--label ${pair} is not KEY=VALUE`)
    labels[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return labels
}
