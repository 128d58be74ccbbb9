import {type ContainerDef, type PlanDef, planContainer, type ServiceDef} from '../catalog/index.js'
import {restartSpec} from '../catalog/restart.js'
import {type ContainerLogging, DEFAULT_LOGGING, DEFAULT_ROTATION} from '../core/logging.js'
import {type ContainerSecurity, DEFAULT_SECURITY} from '../core/security.js'
import type {ContainerSpec, Host, InstanceCredentials, PortMapping} from '../core/types.js'
import {instanceSlug} from './credentials.js'
import {planDisk} from './disk-parameters.js'

export interface SpecInput {
  instanceId: string
  /** The store's installation id: names carry it, so two installations on one engine never share a container or volume. */
  installationId: string
  service: ServiceDef
  plan: PlanDef
  host: Host
  ports: PortMapping[]
  credentials: InstanceCredentials
  parameters: Record<string, unknown>
  /** The instance's current spec on an update: its container and volume names stay, whatever scheme made them. */
  previous?: ContainerSpec
}

// Service names have no "_" and the installation id no "-", so a name tells its installation, service and instance apart.
export const containerName = (installationId: string, service: string, instanceId: string) =>
  `dbroker-${installationId}-${service}_${instanceSlug(instanceId)}`
export const volumeName = (installationId: string, instanceId: string, index: number | 'disk') =>
  `dbroker-${installationId}-${instanceSlug(instanceId)}-${index}`

/** The hardened defaults with what the plan loosens. */
export function planSecurity(overrides: ContainerDef['security']): ContainerSecurity {
  const d = DEFAULT_SECURITY
  if (!overrides) return d
  return {
    capabilities: overrides.capabilities ? [...new Set(overrides.capabilities)].sort() : d.capabilities,
    readOnlyRootfs: overrides.read_only ?? d.readOnlyRootfs,
    tmpfs: {...d.tmpfs, ...overrides.tmpfs},
    noNewPrivileges: overrides.no_new_privileges ?? d.noNewPrivileges,
    pidsLimit: overrides.pids_limit ?? d.pidsLimit,
  }
}

/** Where the plan's containers log: its `logging`, else its `security.log` (the old spelling), else the default. */
export function planLogging(c: Pick<ContainerDef, 'logging' | 'security'>): ContainerLogging {
  if (c.logging) return c.logging
  const legacy = c.security?.log
  if (!legacy) return DEFAULT_LOGGING
  return {
    driver: legacy.driver ?? DEFAULT_LOGGING.driver,
    options: {
      'max-file': String(legacy.max_files ?? DEFAULT_ROTATION['max-file']),
      'max-size': String(legacy.max_size ?? DEFAULT_ROTATION['max-size']),
    },
  }
}

/** The desired container of an instance: everything the agent needs, nothing it has to look up. */
export function buildSpec({
  instanceId,
  installationId,
  service,
  plan,
  host,
  ports,
  credentials,
  parameters,
  previous,
}: SpecInput): ContainerSpec {
  const c = planContainer(plan)
  const env: Record<string, string> = {...c.env}
  if (c.credentials.env.username) env[c.credentials.env.username] = credentials.username
  env[c.credentials.env.password] = credentials.password
  if (c.credentials.env.database && credentials.database) env[c.credentials.env.database] = credentials.database
  for (const [parameter, variable] of Object.entries(c.parameters)) {
    const value = parameters[parameter]
    if (value !== undefined && value !== null) env[variable] = typeof value === 'string' ? value : JSON.stringify(value)
  }
  const r = c.readiness
  const disk = planDisk(plan, parameters, volumeName(installationId, instanceId, 'disk'), previous?.disk)
  return {
    instanceId,
    name: previous?.name ?? containerName(installationId, service.name, instanceId),
    image: c.image,
    ...(c.build ? {build: c.build} : {}),
    ...(c.command ? {command: c.command} : {}),
    ...(c.entrypoint ? {entrypoint: c.entrypoint} : {}),
    env,
    ports,
    bindAddress: host.bindAddress,
    // The disk takes the place of the volume at its path; the others keep their names by position.
    volumes: c.volumes
      .filter((volumePath) => volumePath !== disk?.path)
      .map((volumePath, i) => ({
        name: previous?.volumes[i]?.name ?? volumeName(installationId, instanceId, i),
        path: volumePath,
      })),
    ...(disk ? {disk} : {}),
    ...(c.memory ? {memoryBytes: c.memory} : {}),
    ...(c.cpus ? {nanoCpus: Math.round(c.cpus * 1e9)} : {}),
    ...restartSpec(c.restart),
    labels: {
      'dbroker.service': service.name,
      'dbroker.plan': plan.name,
      'dbroker.service-id': service.id,
      'dbroker.plan-id': plan.id,
    },
    readiness:
      r.probe === 'tcp'
        ? {probe: 'tcp', port: r.port ?? c.ports[0], send: r.send, expect: r.expect, timeoutMs: r.timeout}
        : r.probe === 'exec'
          ? {probe: 'exec', command: r.command, timeoutMs: r.timeout}
          : {probe: r.probe, timeoutMs: r.timeout},
    hooks: {...(c.hooks.bind ? {bind: c.hooks.bind} : {}), ...(c.hooks.unbind ? {unbind: c.hooks.unbind} : {})},
    security: planSecurity(c.security),
    logging: planLogging(c),
    ...(c.supervision ? {supervision: {maxRestarts: c.supervision.max_restarts, windowMs: c.supervision.window}} : {}),
  }
}
