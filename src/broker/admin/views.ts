import type {Catalog} from '../../catalog/index.js'
import type {ContainerStats, HostView, InstanceView} from '../../core/admin.js'
import type {AgentClient} from '../../core/agent.js'
import {errorMessage, OsbError} from '../../core/errors.js'
import type {BasicCredentials} from '../../core/http-auth.js'
import type {Logger} from '../../core/log.js'
import type {ContainerState, Host, Operation, ServiceInstance} from '../../core/types.js'
import type {Store} from '../../store/index.js'
import type {BrokerEvents} from '../events.js'
import type {Provisioner} from '../lifecycle/index.js'
import type {StoredCatalog} from '../stored-catalog.js'
import {isLive} from '../placement.js'
import {describeUnreachable, describeWait} from '../reachability.js'

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

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
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

  const instanceView = (
    instance: ServiceInstance,
    host: Host | undefined,
    container: ContainerState | undefined,
    stats: ContainerStats | undefined,
    unread = new Set<string>(),
  ): InstanceView => {
    const found = catalog.plan(instance.planId)
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
      // `missing` only when the host's own list says so; a list the broker could not read is `unknown`.
      container: container
        ? {
            status: container.status,
            health: container.health,
            restartCount: container.restartCount,
            startedAt: container.startedAt ?? null,
            ...supervision(container),
          }
        : host
          ? {
              status: isLive(host, options.keepaliveMs) && !unread.has(host.id) ? 'missing' : 'unknown',
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

  /** Container states of every live host, by instance id; a host that doesn't answer contributes nothing, and goes into `unread`. */
  async function containers(hosts: Host[], unread = new Set<string>()): Promise<Map<string, ContainerState>> {
    const byInstance = new Map<string, ContainerState>()
    await Promise.all(
      hosts
        .filter((h) => isLive(h, options.keepaliveMs))
        .map(async (host) => {
          const states = await withTimeout(options.agentFor(host).list(), statsTimeoutMs).catch((error) => {
            options.log.warn(`cannot list the containers of host ${host.id}: ${errorMessage(error)}`)
            return undefined
          })
          if (!states) unread.add(host.id)
          for (const state of states ?? []) byInstance.set(state.instanceId, state)
        }),
    )
    return byInstance
  }

  const statsCache = new Map<string, {at: number; value: ContainerStats}>()
  const sampling = new Map<string, Promise<void>>()
  // A deprovisioned instance's sample goes with it, so the cache holds only instances that exist.
  events.on('change', (event) => {
    if (event.kind === 'instance' && event.state === 'gone') statsCache.delete(event.id)
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
    const targets = instances.filter((i) => running.get(i.id)?.status === 'running' && hosts.has(i.hostId))
    const now = Date.now()
    const stale = targets.filter((i) => !sampling.has(i.id) && (statsCache.get(i.id)?.at ?? 0) < now - 2000)
    const batch = eachLimited(stale, 16, async (instance) => {
      const agent = options.agentFor(hosts.get(instance.hostId)!)
      if (!agent.stats) return
      const work = agent
        .stats(instance.id)
        .then((value) => {
          if (value) statsCache.set(instance.id, {at: Date.now(), value})
        })
        .catch(() => undefined)
        .finally(() => sampling.delete(instance.id))
      sampling.set(instance.id, work)
      await work
    })
    await withTimeout(Promise.all([batch, ...targets.map((i) => sampling.get(i.id))]), statsTimeoutMs)
    for (const i of instances) if (running.get(i.id)?.status !== 'running') statsCache.delete(i.id)
    return new Map(targets.flatMap((i) => (statsCache.has(i.id) ? [[i.id, statsCache.get(i.id)!.value] as const] : [])))
  }

  async function lookup(ref: string): Promise<ServiceInstance> {
    const instance = (await store.getInstance(ref)) ?? (await store.getInstanceByName(ref))
    if (!instance) throw new OsbError(404, `no instance has the id or name ${ref}`)
    return instance
  }

  /** What logs and restart act on: an instance by id or name, or a deployed container by its id (`deploy:<deployment>:<host>:<container>`). */
  async function lookupContainer(ref: string): Promise<Pick<ServiceInstance, 'id' | 'hostId' | 'state'>> {
    const deployed = ref.startsWith('deploy:') ? await store.deployments.container(ref) : undefined
    if (!deployed) return lookup(ref)
    return {id: deployed.instanceId, hostId: deployed.hostId, state: 'ready'}
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
