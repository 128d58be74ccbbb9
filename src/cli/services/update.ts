import {BrokerRequestError} from '../../client/broker-client.js'
import {DbrokerError, UsageError} from '../../core/errors.js'
import type {CliBroker, Progress} from './broker.js'
import {catalogNames, planByRef} from './catalog.js'
import {instanceByRef, labelOf, operationFailed, waitForOperation, type WaitOptions} from './instances.js'

export interface UpdateRequest {
  /** The plan to move to (name or id); unchanged when absent. */
  plan?: string
  /** Parameters to change; merged into the instance's by the broker. */
  parameters?: Record<string, unknown>
  /** Return once the broker accepted it. */
  async?: boolean
  progress?: Progress
  wait?: Omit<WaitOptions, 'progress'>
}

export interface UpdateResult {
  id: string
  name: string | null
  service: string
  plan: string
  previousPlan: string
  /** `unchanged`: the instance already had that plan and those parameters. */
  state: 'succeeded' | 'in progress' | 'unchanged'
  operation?: string
}

/**
 * `dbroker update`: an OSB PATCH with the instance's service, the new plan
 * and parameters, waited for like a provision. What the broker would refuse
 * (an unknown plan, a plan that can't change, a busy instance) is said first,
 * in the user's terms.
 */
export async function updateInstance(client: CliBroker, ref: string, request: UpdateRequest): Promise<UpdateResult> {
  const hasParameters = Object.keys(request.parameters ?? {}).length > 0
  if (!request.plan && !hasParameters)
    throw new UsageError('nothing to update', 'pass --plan PLAN, or parameters with -c JSON or -c @FILE')
  const [instance, services] = await Promise.all([instanceByRef(client, ref), client.catalog()])
  const service = services.find((s) => s.id === instance.serviceId)
  if (!service) throw new DbrokerError(`the catalog no longer has the service of ${labelOf(instance)}`)
  const current = catalogNames(services, instance.serviceId, instance.planId)
  const target = request.plan ? planByRef(service, request.plan) : undefined
  const planChanges = target !== undefined && target.id !== instance.planId
  const currentPlan = service.plans.find((p) => p.id === instance.planId)
  if (planChanges && !(currentPlan?.plan_updateable ?? service.plan_updateable ?? false)) {
    throw new DbrokerError(
      `${labelOf(instance)} cannot move from plan ${current.plan} to ${target.name}: plan ${current.plan} of ${service.name} is not updatable`,
      `provision a new one: \`dbroker provision ${service.name} --plan ${target.name}\``,
    )
  }
  if (instance.state !== 'ready') throw busy(labelOf(instance), instance.state)
  request.progress?.(
    `updating ${instance.name ?? instance.id}${planChanges ? ` from plan ${current.plan} to ${target.name}` : ''}`,
  )
  let reply
  try {
    reply = await client.update(
      instance.id,
      {
        service_id: instance.serviceId,
        ...(target ? {plan_id: target.id} : {}),
        ...(hasParameters ? {parameters: request.parameters} : {}),
        previous_values: {service_id: instance.serviceId, plan_id: instance.planId},
      },
      true,
    )
  } catch (error) {
    if (error instanceof BrokerRequestError && error.code === 'ConcurrencyError') throw busy(labelOf(instance))
    if (error instanceof BrokerRequestError && error.status === 422)
      throw new DbrokerError(`cannot update ${labelOf(instance)}: ${error.message}`)
    throw error
  }
  const base = {
    id: instance.id,
    name: instance.name,
    service: service.name,
    plan: target?.name ?? current.plan,
    previousPlan: current.plan,
  }
  if (reply.status !== 202) return {...base, state: 'unchanged'}
  const operation = reply.body.operation as string | undefined
  if (request.async) return {...base, state: 'in progress', operation}
  const op = await waitForOperation(client, instance.id, operation, {progress: request.progress, ...request.wait})
  if (op.state === 'failed')
    throw operationFailed(
      client,
      `updating ${labelOf(instance)}`,
      op.description,
      'it runs as before; see `dbroker show` for its last operation',
    )
  return {...base, state: 'succeeded', operation}
}

function busy(label: string, state?: string): DbrokerError {
  return new DbrokerError(
    `${label} is busy${state ? ` (${state})` : ' with another operation'}`,
    'wait until its current operation ends (`dbroker show` says which), then try again',
  )
}
