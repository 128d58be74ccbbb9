import {randomUUID} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {type BrokerClient, BrokerRequestError, type CatalogPlan, type CatalogService} from '../client/broker-client.js'
import type {InstanceDetail} from '../core/admin.js'
import {DbrokerError, UsageError} from '../core/errors.js'

/** The org and space the CLI provisions in; platforms send their own. */
export const CLI_SPACE = {organization_guid: 'dbroker-cli', space_guid: 'dbroker-cli'}

export type Progress = (line: string) => void

export function findService(services: CatalogService[], ref: string): CatalogService | undefined {
  return services.find((s) => s.name === ref || s.id === ref)
}

export function resolvePlan(services: CatalogService[], serviceRef: string, planRef?: string): {service: CatalogService; plan: CatalogPlan} {
  const service = findService(services, serviceRef)
  if (!service) throw new UsageError(`the catalog has no service ${serviceRef}`, `pick one of: ${services.map((s) => s.name).join(', ')}`)
  const plan = planRef ? service.plans.find((p) => p.name === planRef || p.id === planRef) : service.plans[0]
  if (!plan) throw new UsageError(`service ${service.name} has no plan ${planRef}`, `pick one of: ${service.plans.map((p) => p.name).join(', ')}`)
  return {service, plan}
}

/** `-c '{"k":1}'` or `-c @file.json` -> parameters. */
export function parseParameters(value: string | undefined): Record<string, unknown> {
  if (!value) return {}
  let text = value
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8')
    } catch (error) {
      throw new UsageError(`cannot read the parameters file ${value.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UsageError(`-c must be a JSON object or @file with one; got ${value.length > 40 ? `${value.slice(0, 40)}...` : value}`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('-c must be a JSON object')
  return parsed as Record<string, unknown>
}

export interface ProvisionRequest {
  service: CatalogService
  plan: CatalogPlan
  name?: string
  parameters?: Record<string, unknown>
  /** Return once the broker accepted it, without waiting for the container. */
  async?: boolean
  progress?: Progress
}

export interface ProvisionResult {
  id: string
  name: string | null
  service: string
  plan: string
  state: 'succeeded' | 'in progress'
  operation?: string
}

/** Provisions through the OSB API (asynchronously, polling), named by `context.instance_name`. */
export async function provisionInstance(client: BrokerClient, request: ProvisionRequest): Promise<ProvisionResult> {
  const id = randomUUID()
  const {service, plan} = request
  request.progress?.(`provisioning ${service.name} (${plan.name})${request.name ? ` as ${request.name}` : ''}`)
  const reply = await client.provision(
    id,
    {
      service_id: service.id,
      plan_id: plan.id,
      ...CLI_SPACE,
      context: {platform: 'dbroker-cli', ...(request.name ? {instance_name: request.name} : {})},
      parameters: request.parameters ?? {},
    },
    true,
  )
  const base = {id, name: request.name ?? null, service: service.name, plan: plan.name}
  if (reply.status !== 202) return {...base, state: 'succeeded'}
  const operation = reply.body.operation as string | undefined
  if (request.async) return {...base, state: 'in progress', operation}
  const op = await client.waitForOperation(id, operation)
  if (op.state === 'failed') throw new DbrokerError(`provisioning ${service.name} failed: ${op.description ?? 'no reason given'}`)
  return {...base, state: 'succeeded'}
}

/** The instance with this id or name, with a clear error when there is none. */
export async function instanceByRef(client: BrokerClient, ref: string): Promise<InstanceDetail> {
  const instance = await client.findInstance(ref)
  if (!instance) throw new DbrokerError(`no instance has the id or name ${ref}`, 'list them with `dbroker instances`')
  return instance
}

export interface BindResult {
  instance: {id: string; name: string | null; service: string; plan: string; provisioned: boolean}
  binding: {id: string}
  credentials: Record<string, unknown>
}

/**
 * `dbroker bind`: an existing instance by id or name, or a service name —
 * then the instance named --name (default: the service name) is reused, or
 * provisioned first.
 */
export async function bindService(
  client: BrokerClient,
  ref: string,
  options: {plan?: string; name?: string; progress?: Progress},
): Promise<BindResult> {
  const services = await client.catalog()
  const canLookUp = Boolean(client.target.adminUsername && client.target.adminPassword)
  let instance: {id: string; name: string | null; serviceId: string; planId: string} | undefined
  let provisioned = false
  const service = findService(services, ref)
  if (!service && !canLookUp) {
    throw new UsageError(`${ref} is not a service of the catalog, and without admin credentials instances can't be looked up by name`, 'pass a service name, or add admin credentials to the context')
  }
  const name = service ? (options.name ?? service.name) : ref
  if (canLookUp) instance = await client.findInstance(name)
  if (!instance && !service) throw new DbrokerError(`no instance and no service is called ${ref}`, `services: ${services.map((s) => s.name).join(', ')}; instances: \`dbroker instances\``)
  if (instance && service && instance.serviceId !== service.id) {
    throw new DbrokerError(`the instance named ${name} is not a ${service.name} instance`, 'pick another name with --name')
  }
  if (!instance) {
    if (!canLookUp) options.progress?.('no admin credentials: a new instance is provisioned (it cannot be found by name later)')
    const {plan} = resolvePlan(services, service!.id, options.plan)
    const result = await provisionInstance(client, {service: service!, plan, name: canLookUp ? name : undefined, progress: options.progress})
    instance = {id: result.id, name: result.name, serviceId: service!.id, planId: plan.id}
    provisioned = true
  }
  const ofInstance = services.find((s) => s.id === instance.serviceId)
  const plan = ofInstance?.plans.find((p) => p.id === instance.planId)
  const bindingId = randomUUID()
  options.progress?.(`binding ${instance.name ?? instance.id}`)
  let reply
  try {
    reply = await client.bind(instance.id, bindingId, {service_id: instance.serviceId, plan_id: instance.planId, context: {platform: 'dbroker-cli'}})
  } catch (error) {
    if (error instanceof BrokerRequestError && error.status === 422) throw new DbrokerError(`cannot bind ${instance.name ?? instance.id} now: ${error.message}`, 'wait for its current operation, then try again')
    throw error
  }
  return {
    instance: {id: instance.id, name: instance.name, service: ofInstance?.name ?? instance.serviceId, plan: plan?.name ?? instance.planId, provisioned},
    binding: {id: bindingId},
    credentials: (reply.body.credentials ?? {}) as Record<string, unknown>,
  }
}

export type CredentialsFormat = 'json' | 'env' | 'dotenv' | 'uri'

/** PREFIX_URL, _HOST, _PORT, _USERNAME, _PASSWORD (and _DATABASE) from a binding's credentials. */
export function credentialVariables(credentials: Record<string, unknown>, prefix: string): Array<[string, string]> {
  const p = prefix.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '')
  const name = (suffix: string) => (p ? `${p}_${suffix}` : suffix)
  const fields: Array<[string, unknown]> = [
    ['URL', credentials.uri],
    ['HOST', credentials.host],
    ['PORT', credentials.port],
    ['USERNAME', credentials.username],
    ['PASSWORD', credentials.password],
    ['DATABASE', credentials.database],
  ]
  return fields.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [name(k), String(v)])
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`
const dotenvQuote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`

export function formatCredentials(credentials: Record<string, unknown>, format: CredentialsFormat, prefix: string): string {
  switch (format) {
    case 'json':
      return JSON.stringify(credentials, null, 2) + '\n'
    case 'uri':
      if (typeof credentials.uri !== 'string') throw new DbrokerError('the binding has no uri')
      return `${credentials.uri}\n`
    case 'env':
      return credentialVariables(credentials, prefix).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join('')
    case 'dotenv':
      return credentialVariables(credentials, prefix).map(([k, v]) => `${k}=${dotenvQuote(v)}\n`).join('')
  }
}
