// Over 300 lines: every admin view of an instance (its container, shared or adopted or none, its stats, its lookups) reads the same few maps.
import type {Catalog} from '../../catalog/index.js'
import type {ContainerStats, HostView, InstanceView} from '../../core/admin.js'
import type {AgentClient} from '../../core/agent.js'
import {errorMessage, OsbError} from '../../core/errors.js'
import type {BasicCredentials} from '../../core/http-auth.js'
import type {Logger} from '../../core/log.js'
import {withTimeout} from '../../core/pause.js'
import type {ContainerState, Host, Operation, ServiceInstance} from '../../core/types.js'
import type {Store} from '../../store/index.js'
import type {BrokerEvents} from '../events.js'
import type {Provisioner} from '../lifecycle/index.js'
import type {StoredCatalog} from '../stored-catalog.js'
import {isLive} from '../placement.js'
import {describeUnreachable, describeWait} from '../reachability.js'
import {containerOf, kindOf} from '../lifecycle/plan-kinds.js'

export interface AdminOptions {
  store: Store
  catalog: Catalog
  provisioner: Provisioner
  events: BrokerEvents
  agentFor: (host: Host) => AgentClient
  credentials: BasicCredentials
  keepaliveMs: number
  log: Logger
  /** How long one container's stats may take before the list answers without them. */
  statsTimeoutMs?: number
  /** The catalog in the store, changed at runtime through /admin/v1/catalog; `catalog` is its current form. */
  storedCatalog?: StoredCatalog
}

/** Runs `work` over items, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({length: Math.min(limit, items.length)}, async () => {
      while (next < items.length) await work(items[next++])
    }),
  )
}

export type AdminViews = ReturnType<typeof adminViews>

/** The container logs and restart act on. */
export interface ContainerTarget extends Pick<ServiceInstance, 'id' | 'hostId' | 'state'> {
  /** Its agent-side id. */
  target: string
  /** A shared or adopted container: its name and how many other instances live in it. */
  shared?: {kind: 'shared' | 'existing'; container: string; tenants: number}
}

/**
 * What the admin routes show of hosts and instances, shared by all of them:
 * views, the live containers of each host, cached stats, lookups by id or name.
 */
export function adminViews(options: AdminOptions) {
  const {store, catalog, events} = options
  const statsTimeoutMs = options.statsTimeoutMs ?? 3000

  const hostView = (host: Host, instances: number, now: number): HostView => ({
    id: host.id,
    status: host.status === 'unreachable' ? 'unreachable' : isLive(host, options.keepaliveMs, now) ? 'alive' : 'dead',
    ...(host.reachability ? {reachability: host.reachability} : {}),
    heartbeatAgeMs: Math.max(0, now - host.lastHeartbeat),
    lastHeartbeat: host.lastHeartbeat,
    serviceAddress: host.serviceAddress,
    agentUrl: host.agentUrl,
    portRange: [host.portMin, host.portMax],
    drained: host.drained,
    zone: host.zone,
    instances,
    facts: host.facts,
  })

  const supervision = ({lastExitCode, oomKilled, failing}: ContainerState) => ({
    ...(lastExitCode === undefined ? {} : {lastExitCode}),
    ...(oomKilled ? {oomKilled} : {}),
    ...(failing ? {failing} : {}),
  })

  const kindOfInstance = (instance: ServiceInstance) => kindOf(catalog, instance)
  /** The agent-side id of the container behind the instance (its own, its shared one, the adopted one), or none (static). */
  const targetOf = (instance: ServiceInstance) => containerOf(instance, kindOfInstance(instance))

  /** How many other instances live in the instance's container (shared and existing plans), from `all`. */
  const tenantsBeside = (instance: ServiceInstance, all: ServiceInstance[]): number | undefined => {
    const kind = kindOfInstance(instance).type
    if (kind !== 'shared' && kind !== 'existing') return undefined
    const target = targetOf(instance)
    return all.filter((i) => i.id !== instance.id && i.hostId === instance.hostId && targetOf(i) === target).length
  }

  const instanceView = (
    instance: ServiceInstance,
    host: Host | undefined,
    running: Map<string, ContainerState>,
    stats: ContainerStats | undefined,
    unread = new Set<string>(),
    all: ServiceInstance[] = [instance],
  ): InstanceView => {
    const found = catalog.plan(instance.planId)
    const kind = kindOfInstance(instance).type
    const target = targetOf(instance)
    const container = target === undefined ? undefined : running.get(target)
    const tenants = tenantsBeside(instance, all)
    return {
      id: instance.id,
      name: instance.name,
      service: found?.service.name ?? instance.serviceId,
      plan: found?.plan.name ?? instance.planId,
      serviceId: instance.serviceId,
      planId: instance.planId,
      hostId: instance.hostId,
      address: host?.serviceAddress ?? instance.spec.bindAddress,
      ports: instance.spec.ports,
      state: instance.state,
      kind,
      ...(tenants === undefined ? {} : {tenants}),
      // `missing` only when the host's own list says so; a list the broker could not read is `unknown`; a static plan runs nothing.
      container:
        target === undefined
          ? null
          : container
            ? {
                status: container.status,
                health: container.health,
                restartCount: container.restartCount,
                startedAt: container.startedAt ?? null,
                ...supervision(container),
              }
            : host
              ? {
                  status:
                    isLive(host, options.keepaliveMs) && !unread.has(host.id) && !unread.has(`${host.id} ${target}`)
                      ? 'missing'
                      : 'unknown',
                  health: 'none',
                  restartCount: 0,
                  startedAt: null,
                }
              : null,
      stats: stats ?? null,
      limits: {
        cpus: instance.spec.nanoCpus ? instance.spec.nanoCpus / 1e9 : null,
        memoryBytes: instance.spec.memoryBytes ?? null,
      },
      createdAt: instance.createdAt,
    }
  }

  /**
   * Container states of every live host, by agent-side id; a host that doesn't answer contributes nothing, and goes
   * into `unread`. The adopted containers of `instances` (an existing plan's: not dbroker's, so not in a host's list)
   * are inspected one by one; one an agent can't inspect goes into `unread` as `<host> <id>`.
   */
  async function containers(
    hosts: Host[],
    unread = new Set<string>(),
    instances: ServiceInstance[] = [],
  ): Promise<Map<string, ContainerState>> {
    const byInstance = new Map<string, ContainerState>()
    const adopted = new Map<string, Set<string>>()
    for (const i of instances) {
      const target = targetOf(i)
      if (target !== undefined && kindOfInstance(i).type === 'existing')
        adopted.set(i.hostId, (adopted.get(i.hostId) ?? new Set()).add(target))
    }
    const inspect = async (host: Host, agent: AgentClient, id: string) => {
      // `none`: the agent says there is no such container (missing); undefined: no answer in time, or none could be had.
      const state = agent.inspect
        ? await withTimeout(
            agent.inspect(id).then((s) => s ?? ('none' as const)),
            statsTimeoutMs,
          ).catch((error) => {
            options.log.warn(`cannot inspect container ${id} on host ${host.id}: ${errorMessage(error)}`)
            return undefined
          })
        : undefined
      if (state === undefined) unread.add(`${host.id} ${id}`)
      else if (state !== 'none') byInstance.set(id, state)
    }
    await Promise.all(
      hosts
        .filter((h) => isLive(h, options.keepaliveMs))
        .map(async (host) => {
          const agent = options.agentFor(host)
          const looks = [...(adopted.get(host.id) ?? [])].map((id) => inspect(host, agent, id))
          const states = await withTimeout(agent.list(), statsTimeoutMs).catch((error) => {
            options.log.warn(`cannot list the containers of host ${host.id}: ${errorMessage(error)}`)
            return undefined
          })
          if (!states) unread.add(host.id)
          for (const state of states ?? []) byInstance.set(state.instanceId, state)
          await Promise.all(looks)
        }),
    )
    return byInstance
  }

  const statsCache = new Map<string, {at: number; value: ContainerStats}>()
  const sampling = new Map<string, Promise<void>>()
  // A deprovisioned instance's sample goes with it, so the cache holds only instances that exist.
  events.on('change', (event) => {
    if (event.kind === 'instance' && event.state === 'gone')
      for (const key of statsCache.keys()) if (key.endsWith(` ${event.id}`)) statsCache.delete(key)
  })

  /**
   * CPU/memory of running instances. A Docker sample takes a second or two, so
   * samples are cached briefly and refreshed in the background: an answer waits
   * at most `statsTimeoutMs`, with the freshest samples there are by then.
   */
  async function statsOf(
    instances: ServiceInstance[],
    hosts: Map<string, Host>,
    running: Map<string, ContainerState>,
  ): Promise<Map<string, ContainerStats>> {
    // A shared instance's sample is its container's (every tenant's together), sampled once for all of them.
    const runs = (i: ServiceInstance) => {
      const target = targetOf(i)
      return target !== undefined && running.get(target)?.status === 'running'
    }
    const targets = instances.filter((i) => runs(i) && hosts.has(i.hostId))
    const now = Date.now()
    const key = (i: ServiceInstance) => `${i.hostId} ${targetOf(i)}`
    const containersOf = [...new Map(targets.map((i) => [key(i), i])).values()]
    const stale = containersOf.filter((i) => !sampling.has(key(i)) && (statsCache.get(key(i))?.at ?? 0) < now - 2000)
    const batch = eachLimited(stale, 16, async (instance) => {
      const agent = options.agentFor(hosts.get(instance.hostId)!)
      if (!agent.stats) return
      const k = key(instance)
      const work = agent
        .stats(targetOf(instance)!)
        .then((value) => {
          if (value) statsCache.set(k, {at: Date.now(), value})
        })
        .catch(() => undefined)
        .finally(() => sampling.delete(k))
      sampling.set(k, work)
      await work
    })
    await withTimeout(Promise.all([batch, ...targets.map((i) => sampling.get(key(i)))]), statsTimeoutMs)
    for (const i of instances) if (!runs(i)) statsCache.delete(key(i))
    return new Map(
      targets.flatMap((i) => (statsCache.has(key(i)) ? [[i.id, statsCache.get(key(i))!.value] as const] : [])),
    )
  }

  async function lookup(ref: string): Promise<ServiceInstance> {
    const instance = (await store.getInstance(ref)) ?? (await store.getInstanceByName(ref))
    if (!instance) throw new OsbError(404, `no instance has the id or name ${ref}`)
    return instance
  }

  /**
   * What logs and restart act on: an instance by id or name — the container behind it, its own, its shared one or
   * the adopted one, with how many other instances live there — or a deployed container by its id
   * (`deploy:<deployment>:<host>:<container>`). A static instance has none: a 409 says so.
   */
  async function lookupContainer(ref: string): Promise<ContainerTarget> {
    const deployed = ref.startsWith('deploy:') ? await store.deployments.container(ref) : undefined
    if (deployed) return {id: deployed.instanceId, hostId: deployed.hostId, state: 'ready', target: deployed.instanceId}
    const instance = await lookup(ref)
    const kind = kindOfInstance(instance)
    const target = containerOf(instance, kind)
    if (target === undefined)
      throw new OsbError(
        409,
        `instance ${instance.id} is of static plan ${catalog.plan(instance.planId)?.plan.name ?? instance.planId}: it has no container, only the credentials the operator gave`,
      )
    const tenants = tenantsBeside(instance, await store.listInstances({hostId: instance.hostId}))
    return {
      id: instance.id,
      hostId: instance.hostId,
      state: instance.state,
      target,
      ...(tenants === undefined
        ? {}
        : {
            shared: {
              kind: kind.type as 'shared' | 'existing',
              container: kind.type === 'existing' ? kind.container : instance.spec.name,
              tenants,
            },
          }),
    }
  }

  async function hostOf(instance: Pick<ServiceInstance, 'id' | 'hostId'>): Promise<Host> {
    const host = await store.getHost(instance.hostId)
    if (!host) throw new OsbError(500, `host ${instance.hostId} of instance ${instance.id} is not registered`)
    if (!isLive(host, options.keepaliveMs)) throw new OsbError(503, describeUnreachable(host))
    return host
  }

  /** An operation's description as of now: one still in progress on a host that is not live says what it waits for. */
  const waitText = (op: Pick<Operation, 'kind' | 'state' | 'description'>, host: Host | undefined): string =>
    op.state === 'in progress' && host && !isLive(host, options.keepaliveMs)
      ? `${op.kind} ${describeWait(host)}`
      : op.description

  return {hostView, instanceView, containers, statsOf, lookup, lookupContainer, hostOf, waitText}
}
