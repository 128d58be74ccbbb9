import type {PlanDef, ServiceDef} from '../../catalog/index.js'
import type {Host, ServiceInstance} from '../../core/types.js'
import type {Store} from '../../store/index.js'
import type {ProvisionBody} from '../osb-schema.js'

export interface InstanceRequest {
  id: string
  service: ServiceDef
  plan: PlanDef
  body: ProvisionBody
  parameters: Record<string, unknown>
  now: number
}

/** A provision's new row, placed: any kind's, with the name the platform asked for (context.instance_name) unless another instance has it. */
export async function newInstance(
  tx: Store,
  {id, service, plan, body, parameters, now}: InstanceRequest,
  where: {host: Host; spec: ServiceInstance['spec']; credentials: ServiceInstance['credentials']},
): Promise<ServiceInstance> {
  const requested = typeof body.context?.instance_name === 'string' ? body.context.instance_name : null
  return {
    id,
    serviceId: service.id,
    planId: plan.id,
    hostId: where.host.id,
    state: 'provisioning',
    organizationGuid: body.organization_guid,
    spaceGuid: body.space_guid,
    parameters,
    context: body.context ?? {},
    maintenanceInfo: plan.maintenance_info ? {version: plan.maintenance_info.version} : null,
    credentials: where.credentials,
    spec: where.spec,
    dashboardUrl: null,
    name: requested && !(await tx.getInstanceByName(requested)) ? requested : null,
    createdAt: now,
    updatedAt: now,
  }
}
