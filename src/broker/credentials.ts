import {createHash, randomInt} from 'node:crypto'

import {type PlanDef, planContainer} from '../catalog/index.js'
import type {BindingCredentials, Host, InstanceCredentials, ServiceInstance} from '../core/types.js'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** A secret from the CSPRNG over letters and digits, so it never needs escaping in a URI or shell. */
export function randomSecret(length = 32, alphabet = ALNUM): string {
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)]
  return out
}

export const randomIdentifier = (prefix: string, length = 12) => prefix + randomSecret(length, LOWER)

export function instanceCredentials(plan: PlanDef): InstanceCredentials {
  const {credentials} = planContainer(plan)
  return {
    username: credentials.username ?? randomIdentifier('u'),
    password: randomSecret(32),
    ...(credentials.database ? {database: randomIdentifier('db')} : {}),
  }
}

export function renderUri(template: string, fields: Record<string, string | number | undefined>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(fields[name] ?? '')))
}

/**
 * What a binding hands an application. With per-binding credentials the user
 * is new and the image's bind executable creates it; otherwise it is the instance's.
 */
export function bindingCredentials(
  instance: ServiceInstance,
  plan: PlanDef,
  host: Pick<Host, 'serviceAddress'>,
  user: {username: string; password: string},
): BindingCredentials {
  const port = instance.spec.ports[0].host
  const fields = {
    username: user.username,
    password: user.password,
    host: host.serviceAddress,
    port,
    database: instance.credentials.database,
    name: instance.name ?? instance.id,
  }
  return {
    host: host.serviceAddress,
    port,
    username: user.username,
    password: user.password,
    // An adopted container's template is its kind's (it has no container of dbroker's).
    uri: renderUri(plan.kind.type === 'existing' && plan.kind.uri ? plan.kind.uri : planContainer(plan).uri, fields),
    ...(instance.credentials.database ? {database: instance.credentials.database} : {}),
  }
}

export function bindingUser(instance: ServiceInstance, plan: PlanDef): {username: string; password: string} {
  if (plan.kind.type !== 'dedicated' || planContainer(plan).binding_credentials === 'per-binding')
    return {username: randomIdentifier('b'), password: randomSecret(32)}
  return {username: instance.credentials.username, password: instance.credentials.password}
}

/**
 * A Docker-safe name fragment for an instance id, one-to-one with ids: the id
 * itself when it is one (it starts with a letter or digit), else "_" and its
 * full SHA-256, a form no literal id can take.
 */
export function instanceSlug(instanceId: string): string {
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,47}$/.test(instanceId)) return instanceId
  return `_${createHash('sha256').update(instanceId).digest('hex')}`
}
