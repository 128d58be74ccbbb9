import {randomUUID} from 'node:crypto'
import {setTimeout as sleep} from 'node:timers/promises'

import type {CatalogPlan, CatalogService, LastOperation} from '../../client/broker-client.js'
import type {InstanceDetail, InstanceView} from '../../core/admin.js'
import {DbrokerError, errorMessage} from '../../core/errors.js'
import {type CliBroker, canLookUp, type Progress} from './broker.js'
import {serviceByRef} from './catalog.js'

export * from './refs.js'
import {instanceByRef, labelOf} from './refs.js'

/** The org and space the CLI provisions in; platforms send their own. */
export const CLI_SPACE = {organization_guid: 'dbroker-cli', space_guid: 'dbroker-cli'}

export interface WaitOptions {
  progress?: Progress
  /** Between last_operation polls. */
  intervalMs?: number
  /** Give up after this long; the operation goes on in the broker. */
  timeoutMs?: number
}

const DEFAULT_WAIT: Required<Omit<WaitOptions, 'progress'>> = {intervalMs: 500, timeoutMs: 15 * 60_000}

/** Polls last_operation until the instance's operation leaves "in progress"; a new description goes to progress. */
export async function waitForOperation(
  client: CliBroker,
  instanceId: string,
  operation: string | undefined,
  options: WaitOptions = {},
): Promise<LastOperation> {
  const {intervalMs, timeoutMs} = {...DEFAULT_WAIT, ...options}
  const deadline = Date.now() + timeoutMs
  let said: string | undefined
  for (;;) {
    const op = await client.lastOperation(instanceId, operation)
    if (op.state !== 'in progress') return op
    if (op.description && op.description !== said) options.progress?.(op.description)
    said = op.description
    if (Date.now() + intervalMs > deadline) {
      throw new DbrokerError(
        `${instanceId} is still in progress after ${Math.round(timeoutMs / 1000)} s`,
        'follow it with `dbroker instances`',
      )
    }
    await sleep(intervalMs)
  }
}

/**
 * An operation that failed, as the error to show. The broker keeps the engine's words out of what it answers
 * ("see the broker log, operation X"): the hint says where that log is and how to find the operation in it.
 */
export function operationFailed(
  client: Pick<CliBroker, 'target'>,
  what: string,
  description: string | undefined,
  hint?: string,
): DbrokerError {
  const text = description ?? 'no reason given'
  const ref = /see the broker log, (?:operation|request) (\S+)/.exec(text)?.[1]
  const {logFile} = client.target
  const where = ref
    ? logFile
      ? `the engine's words are in the broker's log: \`grep ${ref} ${logFile}\``
      : `the engine's words are in the broker's log (its stderr), under ${ref}`
    : undefined
  return new DbrokerError(`${what} failed: ${text}`, [where, hint].filter(Boolean).join('; ') || undefined)
}

/**
 * An instance whose operation is still running (provisioning, updating) once
 * that operation ends; a failed one, or one on its way out, is an error.
 */
export async function settledInstance(
  client: CliBroker,
  instance: InstanceDetail,
  options: WaitOptions = {},
): Promise<InstanceDetail> {
  if (instance.state === 'deprovisioning')
    throw new DbrokerError(`${labelOf(instance)} is being deprovisioned`, 'wait until it is gone, then try again')
  if (instance.state === 'provisioning' || instance.state === 'updating') {
    options.progress?.(`${instance.name ?? instance.id} is still ${instance.state}; waiting`)
    const op = await waitForOperation(client, instance.id, undefined, options)
    if (op.state === 'failed')
      throw operationFailed(
        client,
        `${instance.state === 'provisioning' ? 'provisioning' : 'updating'} ${labelOf(instance)}`,
        op.description,
      )
    instance = await instanceByRef(client, instance.id)
  }
  if (instance.state === 'failed')
    throw new DbrokerError(
      `${labelOf(instance)} failed`,
      `see why with \`dbroker logs ${instance.name ?? instance.id}\`; deprovision it with \`dbroker deprovision ${instance.id}\``,
    )
  return instance
}

/** A name another instance holds; `existingId` is that instance. */
export class NameTakenError extends DbrokerError {
  override readonly name = 'NameTakenError'
  constructor(
    readonly instanceName: string,
    readonly existingId: string,
  ) {
    super(
      `an instance named ${instanceName} exists already (id ${existingId})`,
      `bind to it with \`dbroker bind ${instanceName}\`, or pick another --name`,
    )
  }
}

export interface ProvisionRequest {
  service: CatalogService
  plan: CatalogPlan
  name?: string
  parameters?: Record<string, unknown>
  /** Return once the broker accepted it, without waiting for the container. */
  async?: boolean
  progress?: Progress
  wait?: Omit<WaitOptions, 'progress'>
}

export interface ProvisionResult {
  id: string
  name: string | null
  service: string
  plan: string
  state: 'succeeded' | 'in progress'
  operation?: string
}

/**
 * Provisions through the OSB API, named by `context.instance_name`, and waits
 * unless async. A name that is taken is a `NameTakenError`, also when another
 * CLI took it a moment before us (then our instance is deprovisioned again).
 */
export async function provisionInstance(client: CliBroker, request: ProvisionRequest): Promise<ProvisionResult> {
  const {service, plan, name} = request
  const lookUp = canLookUp(client)
  if (name && lookUp) {
    const existing = await client.findInstance(name)
    if (existing) throw new NameTakenError(name, existing.id)
  }
  const id = randomUUID()
  request.progress?.(`provisioning ${service.name} (${plan.name})${name ? ` as ${name}` : ''}`)
  const reply = await client.provision(
    id,
    {
      service_id: service.id,
      plan_id: plan.id,
      ...CLI_SPACE,
      context: {platform: 'dbroker-cli', ...(name ? {instance_name: name} : {})},
      parameters: request.parameters ?? {},
    },
    true,
  )
  // The broker leaves an instance unnamed when its name was taken meanwhile: ours must not linger unnamed.
  if (name && lookUp) {
    const holder = await client.findInstance(name)
    if (holder && holder.id !== id) {
      await deprovisionInstance(
        client,
        {id, name: null, serviceId: service.id, planId: plan.id},
        {progress: request.progress, ...request.wait},
      ).catch((error) => request.progress?.(`could not remove the unnamed instance ${id}: ${errorMessage(error)}`))
      throw new NameTakenError(name, holder.id)
    }
  }
  const base = {id, name: name ?? null, service: service.name, plan: plan.name}
  if (reply.status !== 202) return {...base, state: 'succeeded'}
  const operation = reply.body.operation as string | undefined
  if (request.async) return {...base, state: 'in progress', operation}
  const op = await waitForOperation(client, id, operation, {progress: request.progress, ...request.wait})
  if (op.state === 'failed') throw operationFailed(client, `provisioning ${service.name}`, op.description)
  return {...base, state: 'succeeded'}
}

export interface DeprovisionResult {
  id: string
  name: string | null
  state: 'succeeded' | 'in progress'
}

/** Deprovisions through the OSB API and waits unless async. */
export async function deprovisionInstance(
  client: CliBroker,
  instance: {id: string; name: string | null; serviceId: string; planId: string},
  options: WaitOptions & {async?: boolean} = {},
): Promise<DeprovisionResult> {
  const reply = await client.deprovision(instance.id, {serviceId: instance.serviceId, planId: instance.planId}, true)
  const base = {id: instance.id, name: instance.name}
  if (reply.status !== 202) return {...base, state: 'succeeded'}
  if (options.async) return {...base, state: 'in progress'}
  const op = await waitForOperation(client, instance.id, reply.body.operation as string | undefined, options)
  if (op.state === 'failed') throw operationFailed(client, `deprovisioning ${labelOf(instance)}`, op.description)
  return {...base, state: 'succeeded'}
}

/** Every instance, or those of one service (name or id); an unknown service is an error naming the catalog's. */
export async function listInstances(
  client: CliBroker,
  options: {service?: string; stats?: boolean} = {},
): Promise<InstanceView[]> {
  const [instances, service] = await Promise.all([
    client.instances({stats: options.stats}),
    options.service === undefined
      ? undefined
      : client.catalog().then((services) => catalogService(services, options.service!)),
  ])
  return service ? instances.filter((i) => i.serviceId === service.id) : instances
}

function catalogService(services: CatalogService[], ref: string): CatalogService {
  try {
    return serviceByRef(services, ref)
  } catch (error) {
    // Not a usage error: the flag is well-formed, the broker just has no such service.
    throw new DbrokerError(errorMessage(error), (error as DbrokerError).hint)
  }
}

/** Deprovisions every instance at once through the admin API; answers the removed ids and one line per failure. */
export async function removeAllInstances(
  client: CliBroker,
  progress?: Progress,
): Promise<{removed: string[]; failures: string[]}> {
  const instances = await client.instances({stats: false})
  const removed: string[] = []
  const failures: string[] = []
  await Promise.all(
    instances.map(async (i) => {
      try {
        await client.remove(i.id)
        removed.push(i.id)
        progress?.(`deprovisioned ${i.name ?? i.id}`)
      } catch (error) {
        failures.push(`${i.name ?? i.id}: ${errorMessage(error)}`)
      }
    }),
  )
  return {removed, failures}
}
