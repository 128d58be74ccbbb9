/**
 * Registries as the broker, the agents and the CLI speak of them: the mirror
 * and insecure-registry settings an operator wants on a host, how to tell
 * whether an engine has them in force, and which registry an image lives on.
 */
import {z} from 'zod'

import type {HostRegistryView} from './admin.js'
import {DbrokerError} from './errors.js'

/** What `dbroker hosts registry` sets on a host: its engine's registry-mirrors and insecure-registries. */
export interface RegistrySettings {
  mirrors: string[]
  insecure: string[]
}

/** The host key of the setting every host follows unless it has its own (`--all`). */
export const EVERY_HOST = '*'

/** A registry's key: host[:port], lowercase, as Docker names it in an image reference and in its auth config. */
const REGISTRY_KEY = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/
const CIDR = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/

/** `https://Reg.example:5000/` or `reg.example:5000` -> `reg.example:5000`; anything else is refused naming it. */
export function registryKey(given: string): string {
  const bare = given
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/+$/, '')
    .toLowerCase()
  if (!REGISTRY_KEY.test(bare))
    throw new DbrokerError(`${JSON.stringify(given)} is not a registry: use HOST[:PORT], e.g. registry.example:5000`)
  return bare
}

/** Docker Hub's key, for images without a registry part. */
export const DOCKER_HUB = 'docker.io'

/** The registry an image reference pulls from: the first part when it names a host (a dot, a port or localhost). */
export function registryOfImage(image: string): string {
  const slash = image.indexOf('/')
  if (slash < 0) return DOCKER_HUB
  const first = image.slice(0, slash)
  return /[.:]/.test(first) || first === 'localhost' ? first.toLowerCase() : DOCKER_HUB
}

export const mirrorUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value)
      return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password
    } catch {
      return false
    }
  }, 'a mirror is an http(s) URL without credentials, e.g. https://mirror.example:5000')

export const insecureRegistry = z
  .string()
  .max(256)
  .refine(
    (value) => CIDR.test(value) || REGISTRY_KEY.test(value),
    'an insecure registry is HOST[:PORT] or a CIDR, e.g. registry.example:5000 or 10.0.0.0/8',
  )

export const registrySettings = z.object({
  mirrors: z.array(mirrorUrl).max(32),
  insecure: z.array(insecureRegistry).max(32),
})

/** Docker answers a mirror with a trailing slash: compare without it. */
const sameMirror = (url: string) => url.replace(/\/+$/, '')

/** dockerd's own insecure range, in force without anyone asking for it. */
const BUILT_IN_INSECURE = new Set(['127.0.0.0/8', '::1/128'])

/** How the engine (`docker info`'s RegistryConfig, as host facts carry it) differs from `desired`; empty when it has exactly them. */
export function registryDifferences(
  desired: RegistrySettings,
  actual: {registryMirrors: string[]; insecureRegistries: string[]},
): string[] {
  const wantedMirrors = new Set(desired.mirrors.map(sameMirror))
  const mirrors = new Set(actual.registryMirrors.map(sameMirror))
  const wantedInsecure = new Set(desired.insecure)
  const insecure = new Set(actual.insecureRegistries.filter((i) => !BUILT_IN_INSECURE.has(i)))
  return [
    ...[...wantedMirrors].filter((m) => !mirrors.has(m)).map((m) => `mirror ${m} missing`),
    ...[...mirrors].filter((m) => !wantedMirrors.has(m)).map((m) => `mirror ${m} not wanted`),
    ...[...wantedInsecure].filter((i) => !insecure.has(i)).map((i) => `insecure ${i} missing`),
    ...[...insecure].filter((i) => !wantedInsecure.has(i)).map((i) => `insecure ${i} not wanted`),
  ]
}

/** A host's registry settings on one line, for `top`'s host detail: `in force: mirrors m`, `not applied: why`. */
export function describeHostRegistry(view: HostRegistryView | undefined): string {
  if (!view || view.state === 'not set') return '-'
  const wanted = view.desired
    ? `mirrors ${view.desired.mirrors.join(', ') || 'none'}, insecure ${view.desired.insecure.join(', ') || 'none'}`
    : ''
  return `${view.state}${view.why ? ` (${view.why})` : ''}: ${wanted}`
}

/** One registry login as the broker lists it: never its password. */
export interface RegistryLogin {
  registry: string
  username: string
  updatedAt: number
}

/** What an agent pulls with: Docker's auth config for one registry. */
export const registryAuth = z.object({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(4096),
  serveraddress: z.string().min(1).max(256),
})
export type RegistryAuth = z.infer<typeof registryAuth>

/** A registry refused a pull: names the registry, the user and what to do, never the password. */
export class RegistryAuthError extends DbrokerError {
  override readonly name = 'RegistryAuthError'
}
