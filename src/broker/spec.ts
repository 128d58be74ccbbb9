import type {PlanDef, ServiceDef} from '../catalog/index.js'
import type {ContainerSpec, Host, InstanceCredentials, PortMapping} from '../core/types.js'
import {instanceSlug} from './credentials.js'

export interface SpecInput {
  instanceId: string
  service: ServiceDef
  plan: PlanDef
  host: Host
  ports: PortMapping[]
  credentials: InstanceCredentials
  parameters: Record<string, unknown>
}

/** The desired container of an instance: everything the agent needs, nothing it has to look up. */
export function buildSpec({instanceId, service, plan, host, ports, credentials, parameters}: SpecInput): ContainerSpec {
  const c = plan.container
  const slug = instanceSlug(instanceId)
  const env: Record<string, string> = {...c.env}
  if (c.credentials.env.username) env[c.credentials.env.username] = credentials.username
  env[c.credentials.env.password] = credentials.password
  if (c.credentials.env.database && credentials.database) env[c.credentials.env.database] = credentials.database
  for (const [parameter, variable] of Object.entries(c.parameters)) {
    const value = parameters[parameter]
    if (value !== undefined && value !== null) env[variable] = typeof value === 'string' ? value : JSON.stringify(value)
  }
  const r = c.readiness
  return {
    instanceId,
    name: `dbroker-${service.name}-${slug}`,
    image: c.image,
    ...(c.build ? {build: c.build} : {}),
    ...(c.command ? {command: c.command} : {}),
    ...(c.entrypoint ? {entrypoint: c.entrypoint} : {}),
    env,
    ports,
    bindAddress: host.bindAddress,
    volumes: c.volumes.map((volumePath, i) => ({name: `dbroker-${slug}-${i}`, path: volumePath})),
    ...(c.memory ? {memoryBytes: c.memory} : {}),
    ...(c.cpus ? {nanoCpus: Math.round(c.cpus * 1e9)} : {}),
    restart: c.restart,
    labels: {'dbroker.service': service.name, 'dbroker.plan': plan.name, 'dbroker.service-id': service.id, 'dbroker.plan-id': plan.id},
    readiness:
      r.probe === 'tcp'
        ? {probe: 'tcp', port: r.port ?? c.ports[0], send: r.send, expect: r.expect, timeoutMs: r.timeout}
        : r.probe === 'exec'
          ? {probe: 'exec', command: r.command, timeoutMs: r.timeout}
          : {probe: r.probe, timeoutMs: r.timeout},
    hooks: {...(c.hooks.bind ? {bind: c.hooks.bind} : {}), ...(c.hooks.unbind ? {unbind: c.hooks.unbind} : {})},
  }
}
