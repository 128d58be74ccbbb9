import {createHash} from 'node:crypto'

import {KEY_PREFIX} from '../core/deployments.js'
import type {ContainerSpec, Host, PortMapping, Readiness} from '../core/types.js'
import {type Deployment, type DeploymentContainer, ManifestError, type ManifestProblem, formatPath} from './index.js'

export const LABEL_DEPLOYMENT = 'dbroker.deployment'
export const LABEL_CONTAINER = 'dbroker.container'
export const LABEL_HOST = 'dbroker.host'

/**
 * The instance id of a manifest container. It names the host because a
 * deployment may run a container of the same name on several, and it holds no
 * hash or index, so an edited container keeps its id: the agent recreates it
 * instead of making a second one. Names can't contain ":", so it parses back.
 */
export const deploymentKey = (deployment: string, host: string, container: string) =>
  `${KEY_PREFIX}${deployment}:${host}:${container}`

/** OSB instance ids are the platform's to choose: the broker must refuse this prefix there, or a platform could claim a manifest container's id. */
export const isDeploymentKey = (id: string) => id.startsWith(KEY_PREFIX)

export {parseDeploymentKey} from '../core/deployments.js'

/** Instance containers are `dbroker-<service>-...`; a "." never occurs there, so the two never collide on one engine. */
const engineName = (deployment: string, container: string) => `dbroker.${deployment}.${container}`

/** Each deployment's desired containers, per host, in manifest order. */
export interface DeploymentSpecs {
  deployment: string
  hosts: Record<string, ContainerSpec[]>
}

export interface SpecsInput {
  /** The registered hosts by id: every host the manifest names must be one. */
  hosts: ReadonlyMap<string, Host>
  /** Reserves host ports from the host's range for `key` (the store's allocatePorts). */
  allocate: (host: Host, key: string, containerPorts: number[]) => Promise<PortMapping[]>
  /** The specs deployed before: a container keeps the host ports it was given. */
  previous?: DeploymentSpecs
}

/**
 * The agent's specs for a deployment: the same type a service instance has, so
 * both go through the same convergence. Everything is checked before the first
 * port is reserved, so a refused manifest holds no ports.
 */
export async function toSpecs(
  deployment: Deployment,
  {hosts, allocate, previous}: SpecsInput,
): Promise<DeploymentSpecs> {
  const problems: ManifestProblem[] = []
  const at = (segments: PropertyKey[], message: string) =>
    problems.push({path: formatPath(segments), line: deployment.lineOf(segments), message})
  deployment.hosts.forEach((manifestHost, hi) => {
    const host = hosts.get(manifestHost.name)
    if (!host) return at(['hosts', hi, 'name'], `no host "${manifestHost.name}" is registered (see dbroker hosts)`)
    manifestHost.containers.forEach((c, ci) =>
      c.ports.forEach((p, pi) => {
        if (p.host !== undefined && p.host >= host.portMin && p.host <= host.portMax) {
          at(
            ['hosts', hi, 'containers', ci, 'ports', pi],
            `host port ${p.host} is in ${host.id}'s range ${host.portMin}-${host.portMax}, which instances are given ports from: pick one outside it or leave the host port out`,
          )
        }
      }),
    )
  })
  if (problems.length > 0) throw new ManifestError(deployment.file, problems)
  const out: DeploymentSpecs = {deployment: deployment.name, hosts: {}}
  for (const manifestHost of deployment.hosts) {
    const host = hosts.get(manifestHost.name)!
    const specs: ContainerSpec[] = []
    for (const c of manifestHost.containers) {
      const key = deploymentKey(deployment.name, host.id, c.name)
      const before = previous?.hosts[host.id]?.find((s) => s.instanceId === key)
      specs.push(containerSpec(deployment.name, host, c, key, await portsOf(host, key, c, before, allocate)))
    }
    out.hosts[host.id] = specs
  }
  return out
}

async function portsOf(
  host: Host,
  key: string,
  c: DeploymentContainer,
  before: ContainerSpec | undefined,
  allocate: SpecsInput['allocate'],
): Promise<PortMapping[]> {
  const inRange = (port: number) => port >= host.portMin && port <= host.portMax
  const kept = (p: {container: number; protocol: string}) =>
    before?.ports.find((b) => b.container === p.container && b.protocol === p.protocol && inRange(b.host))
  const needed = c.ports.filter((p) => p.host === undefined && !kept(p))
  const given =
    needed.length > 0
      ? await allocate(
          host,
          key,
          needed.map((p) => p.container),
        )
      : []
  if (given.length !== needed.length)
    throw new Error(`the port allocator gave ${given.length} of the ${needed.length} ports ${key} needs`)
  return c.ports
    .map((p): PortMapping => {
      const hostPort = p.host ?? kept(p)?.host ?? given[needed.indexOf(p)].host
      return {container: p.container, host: hostPort, protocol: p.protocol}
    })
    .sort((a, b) => a.container - b.container || a.protocol.localeCompare(b.protocol))
}

const sorted = <T>(record: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
const pathHash = (p: string) => createHash('sha256').update(p).digest('hex').slice(0, 8)

/** Lists and maps come out sorted, so the order they were written in the manifest changes no spec hash. */
function containerSpec(
  deployment: string,
  host: Host,
  c: DeploymentContainer,
  key: string,
  ports: PortMapping[],
): ContainerSpec {
  const base = engineName(deployment, c.name)
  const r = c.readiness
  const readiness: Readiness =
    r.probe === 'tcp'
      ? {probe: 'tcp', port: r.port ?? ports[0].container, send: r.send, expect: r.expect, timeoutMs: r.timeout}
      : r.probe === 'exec'
        ? {probe: 'exec', command: r.command, timeoutMs: r.timeout}
        : {probe: r.probe, timeoutMs: r.timeout}
  return {
    instanceId: key,
    name: base,
    image: c.image,
    ...(c.build ? {build: c.build} : {}),
    ...(c.command ? {command: c.command} : {}),
    ...(c.entrypoint ? {entrypoint: c.entrypoint} : {}),
    env: sorted(c.env),
    ports,
    // The loader lets a container's ports name one address at most, so the spec's one address says it.
    bindAddress: c.ports.find((p) => p.hostIp)?.hostIp ?? host.bindAddress,
    volumes: [...c.volumes].sort().map((volumePath) => ({name: `${base}.${pathHash(volumePath)}`, path: volumePath})),
    ...(c.memory ? {memoryBytes: c.memory} : {}),
    ...(c.cpus ? {nanoCpus: Math.round(c.cpus * 1e9)} : {}),
    restart: c.restart.policy,
    labels: {[LABEL_CONTAINER]: c.name, [LABEL_DEPLOYMENT]: deployment, [LABEL_HOST]: host.id},
    // The deployment's containers on this host share a network and reach each other by their manifest names.
    network: {name: deployment, aliases: [c.name]},
    // An image's own check may test a setup this container replaced (dbroker/redis:7's): only asked for, it counts.
    ...(r.probe === 'healthcheck' ? {} : {imageHealthcheck: false}),
    readiness,
    hooks: {},
    ...(c.restart.retries !== undefined ? {restartRetries: c.restart.retries} : {}),
    ...(c.bind_volumes.length > 0 ? {binds: [...c.bind_volumes].sort((a, b) => (a.path < b.path ? -1 : 1))} : {}),
    ...(c.disk
      ? {
          disk: {
            name: `${base}.disk`,
            path: c.disk.path,
            sizeBytes: c.disk.size,
            ...(c.disk.driver ? {driver: c.disk.driver} : {}),
          },
        }
      : {}),
    ...(c.logging ? {logging: {driver: c.logging.driver, options: sorted(c.logging.options)}} : {}),
    ...(c.depends_on.length > 0
      ? {dependsOn: [...c.depends_on].sort().map((d) => deploymentKey(deployment, host.id, d))}
      : {}),
    ...(c.supervision ? {supervision: {maxRestarts: c.supervision.max_restarts, windowMs: c.supervision.window}} : {}),
  }
}
