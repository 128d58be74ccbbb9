import {isIP} from 'node:net'
import path from 'node:path'

import {z} from 'zod'

import {loggingSchema} from '../catalog/logging.js'
import {restartParts} from '../catalog/restart.js'
import {bytes, readiness, supervision} from '../catalog/schema.js'

// Image tags are made of these names, and a tag's parts may not end in "-".
const name = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'use lowercase letters, digits and "-" inside (at most 63)')
/** The agent's host id, as `dbroker hosts` shows it (src/broker/agents.ts accepts the same). */
const hostId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'use letters, digits, ".", "_" and "-" (at most 63)')
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
const containerPath = z
  .string()
  .refine((p) => path.posix.isAbsolute(p), 'must be an absolute path in the container')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."')
  .transform((p) => path.posix.normalize(p).replace(/(.)\/$/, '$1'))

/** Splits a command line the way a shell would split words: quotes group, a backslash escapes. */
export function splitWords(line: string): string[] | undefined {
  const words: string[] = []
  let word: string | undefined
  let quote: '"' | "'" | undefined
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (quote) {
      if (ch === quote) quote = undefined
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i]
      else word += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      word ??= ''
    } else if (ch === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i]
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else {
      word = (word ?? '') + ch
    }
  }
  if (quote) return undefined
  if (word !== undefined) words.push(word)
  return words
}

const command = z.union([z.string(), z.array(z.string()).min(1)]).transform((value, ctx) => {
  if (Array.isArray(value)) return value
  const words = splitWords(value)
  if (!words) ctx.addIssue({code: 'custom', message: 'has an unclosed quote'})
  else if (words.length === 0) ctx.addIssue({code: 'custom', message: 'must not be empty'})
  return words ?? []
})

export interface PortRequest {
  container: number
  /** Absent: the broker allocates one from the host's range. */
  host?: number
  hostIp?: string
  protocol: 'tcp' | 'udp'
}

/** `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`, as `docker run -p` reads it. */
export function parsePort(text: string): PortRequest | string {
  const match = /^(?:(\[[0-9a-fA-F:]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d*):)?(\d+)(?:\/(tcp|udp))?$/.exec(text.trim())
  if (!match)
    return `"${text}" is not a port: use "6379" (host port from the host's range), "6379:6379" or "127.0.0.1:6379:6379"`
  const [, ip, host, container, protocol] = match
  const hostIp = ip?.replace(/^\[(.*)\]$/, '$1')
  if (hostIp && !isIP(hostIp)) return `"${hostIp}" is not an IP address`
  for (const port of [host || undefined, container])
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
      return `port ${port} is not between 1 and 65535`
  return {
    container: Number(container),
    // An empty host port (`127.0.0.1::6379`) is one from the range, as with docker run -p.
    ...(host ? {host: Number(host)} : {}),
    ...(hostIp ? {hostIp} : {}),
    protocol: (protocol as 'tcp' | 'udp' | undefined) ?? 'tcp',
  }
}

const port = z.union([z.string(), z.number().int()]).transform((value, ctx) => {
  const parsed = parsePort(String(value))
  if (typeof parsed === 'string') ctx.addIssue({code: 'custom', message: parsed})
  return typeof parsed === 'string' ? {container: 0, protocol: 'tcp' as const} : parsed
})

const bindVolume = z.string().transform((value, ctx) => {
  const [source, target, mode, ...rest] = value.split(':')
  const fail = (message: string) => {
    ctx.addIssue({code: 'custom', message})
    return {source: '', path: '', readOnly: false}
  }
  if (target === undefined || rest.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw'))
    return fail(`"${value}" is not HOST_PATH:CONTAINER_PATH[:ro]`)
  if (!path.posix.isAbsolute(source)) return fail(`host path "${source}" must be absolute`)
  if (!path.posix.isAbsolute(target)) return fail(`container path "${target}" must be absolute`)
  if ([source, target].some((p) => p.split('/').includes('..'))) return fail('paths must not contain ".."')
  return {
    source: path.posix.normalize(source),
    path: path.posix.normalize(target).replace(/(.)\/$/, '$1'),
    readOnly: mode === 'ro',
  }
})

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String)

export const manifestContainerSchema = z.strictObject({
  name,
  image: z.string().min(1).optional(),
  /** An inline Dockerfile, built without a context. */
  dockerfile: z.string().min(1).optional(),
  /** A build context directory, relative to the manifest file. */
  build: z
    .union([
      z.string().min(1),
      z.strictObject({
        context: z.string().min(1),
        dockerfile: z.string().min(1).optional(),
        args: z.record(z.string(), scalar).optional(),
      }),
    ])
    .transform((b) => (typeof b === 'string' ? {context: b} : b))
    .optional(),
  command: command.optional(),
  entrypoint: command.optional(),
  env: z.record(envName, scalar).default({}),
  ports: z.array(port).default([]),
  /** Paths in the container that each get a Docker volume. */
  volumes: z.array(containerPath).default([]),
  disk: z.strictObject({size: bytes, driver: z.enum(['loop', 'volume']).optional(), path: containerPath}).optional(),
  bind_volumes: z.array(bindVolume).default([]),
  depends_on: z.array(name).default([]),
  restart: restartParts.default({policy: 'unless-stopped'}),
  memory: bytes.optional(),
  cpus: z.number().positive().max(1024).optional(),
  logging: loggingSchema.optional(),
  readiness: readiness.default({probe: 'none', timeout: 0}),
  supervision: supervision.optional(),
})

export const manifestHostSchema = z.strictObject({
  name: hostId,
  containers: z.array(manifestContainerSchema).min(1),
})

export const manifestSchema = z.strictObject({
  name,
  hosts: z.array(manifestHostSchema).min(1),
})

export type ManifestFile = z.infer<typeof manifestSchema>
export type ManifestHost = z.infer<typeof manifestHostSchema>
export type ManifestContainer = z.infer<typeof manifestContainerSchema>
