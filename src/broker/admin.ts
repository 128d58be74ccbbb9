import {PassThrough, Readable} from 'node:stream'

import type {FastifyInstance} from 'fastify'

import type {Catalog} from '../catalog/index.js'
import type {ChangeEvent, ContainerStats, HostView, InstanceDetail, InstanceView} from '../core/admin.js'
import type {AgentClient} from '../core/agent.js'
import {DbrokerError, errorMessage, LogsUnavailableError, OsbError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import {securityView} from '../core/security.js'
import type {ContainerState, Host, ServiceInstance} from '../core/types.js'
import type {Store} from '../store/index.js'
import {basicAuthChecker, type BasicCredentials} from './auth.js'
import type {BrokerEvents} from './events.js'
import {isLive} from './placement.js'
import type {Provisioner} from './lifecycle/index.js'
import {describeUnreachable} from './reachability.js'

export const ADMIN_PREFIX = '/admin/v1'

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
}

const SSE_PING_MS = 15_000
const SSE_MAX_BUFFER = 1024 * 1024

/** `10m`, `2h`, `30s`, `1d`, or unix seconds, or an ISO date -> unix seconds. */
export function parseSince(value: string, now = Date.now()): number {
  const duration = /^(\d+)(s|m|h|d)$/.exec(value)
  if (duration)
    return Math.floor(now / 1000) - Number(duration[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[duration[2] as 's']
  if (/^\d+$/.test(value)) return Number(value)
  const date = Date.parse(value)
  if (Number.isNaN(date)) throw new OsbError(400, `since ${value} is not a duration (10m, 2h), unix seconds or a date`)
  return Math.floor(date / 1000)
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

/**
 * The operator's API: hosts, instances with their containers' state and
 * stats, logs, restart and deprovision, and a server-sent event stream of
 * changes. Its own basic auth; secrets only when asked for.
 */
export function adminRoutes(options: AdminOptions) {
  const authorized = basicAuthChecker(options.credentials)
  const {store, catalog, provisioner, events} = options
  const statsTimeoutMs = options.statsTimeoutMs ?? 3000
  const streams = new Set<{end: () => void}>()

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

  async function hostOf(instance: ServiceInstance): Promise<Host> {
    const host = await store.getHost(instance.hostId)
    if (!host) throw new OsbError(500, `host ${instance.hostId} of instance ${instance.id} is not registered`)
    if (!isLive(host, options.keepaliveMs)) throw new OsbError(503, describeUnreachable(host))
    return host
  }

  /** Host changes have no request behind them: while someone listens, compare each keepalive. */
  function watchHosts(): () => void {
    const seen = new Map<string, string>()
    const look = async () => {
      const now = Date.now()
      for (const host of await store.listHosts()) {
        const view = hostView(host, 0, now)
        const key = `${view.status} ${JSON.stringify(view.facts)}`
        const before = seen.get(host.id)
        seen.set(host.id, key)
        if (before !== undefined && before !== key)
          events.emitChange({kind: 'host', id: host.id, action: 'update', state: view.status})
      }
    }
    void look().catch(() => undefined)
    const timer = setInterval(() => void look().catch(() => undefined), options.keepaliveMs)
    timer.unref()
    return () => clearInterval(timer)
  }
  let listeners = 0
  let stopWatching: (() => void) | undefined

  return async function admin(app: FastifyInstance): Promise<void> {
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (request, reply) => {
          if (!authorized(request.headers.authorization)) {
            void reply.header('WWW-Authenticate', 'Basic realm="dbroker admin"')
            throw new OsbError(401, 'missing or wrong admin credentials')
          }
        })
        scope.addHook('preClose', async () => {
          for (const stream of streams) stream.end()
        })

        scope.get('/hosts', async () => {
          const [hosts, counts] = await Promise.all([store.listHosts(), store.countInstancesByHost()])
          const now = Date.now()
          return hosts.map((h) => hostView(h, counts.get(h.id) ?? 0, now))
        })

        scope.get<{Querystring: {stats?: string}}>('/instances', async (request) => {
          const [instances, hostList] = await Promise.all([store.listInstances(), store.listHosts()])
          const hosts = new Map(hostList.map((h) => [h.id, h]))
          const unread = new Set<string>()
          const running = await containers(hostList, unread)
          const stats =
            request.query.stats === 'false'
              ? new Map<string, ContainerStats>()
              : await statsOf(instances, hosts, running)
          return instances.map((i) => instanceView(i, hosts.get(i.hostId), running.get(i.id), stats.get(i.id), unread))
        })

        scope.get<{Params: {ref: string}; Querystring: {credentials?: string}}>(
          '/instances/:ref',
          async (request): Promise<InstanceDetail> => {
            const instance = await lookup(request.params.ref)
            const host = await store.getHost(instance.hostId)
            const unread = new Set<string>()
            const running = host ? await containers([host], unread) : new Map<string, ContainerState>()
            const stats = host
              ? await statsOf([instance], new Map([[host.id, host]]), running)
              : new Map<string, ContainerStats>()
            const withSecrets = request.query.credentials === 'true'
            const bindings = await store.listBindings(instance.id)
            const op = await store.latestOperation(instance.id)
            return {
              ...instanceView(instance, host, running.get(instance.id), stats.get(instance.id), unread),
              image: instance.spec.image,
              client: catalog.plan(instance.planId)?.plan.client ?? null,
              memoryLimitBytes: instance.spec.memoryBytes ?? null,
              nanoCpus: instance.spec.nanoCpus ?? null,
              parameters: instance.parameters,
              context: instance.context,
              volumes: instance.spec.volumes,
              security: securityView(instance.spec, await store.installationId()),
              bindings: bindings.map((b) => ({
                id: b.id,
                state: b.state,
                appGuid: b.appGuid,
                createdAt: b.createdAt,
                context: b.context,
                expiresAt: b.expiresAt ?? null,
                ...(withSecrets ? {credentials: b.credentials} : {}),
              })),
              lastOperation: op
                ? {kind: op.kind, state: op.state, description: op.description, updatedAt: op.updatedAt}
                : null,
            }
          },
        )

        scope.get<{
          Params: {ref: string}
          Querystring: {tail?: string; since?: string; follow?: string; timestamps?: string}
        }>('/instances/:ref/logs', async (request, reply) => {
          const instance = await lookup(request.params.ref)
          const agent = options.agentFor(await hostOf(instance))
          if (!agent.logs) throw new OsbError(501, `the agent of host ${instance.hostId} cannot stream logs`)
          const {tail, since, follow, timestamps} = request.query
          if (tail !== undefined && !/^\d+$/.test(tail))
            throw new OsbError(400, `tail ${tail} is not a number of lines`)
          const abort = new AbortController()
          let chunks: AsyncIterable<string>
          try {
            chunks = await agent.logs(instance.id, {
              tail: tail === undefined ? undefined : Number(tail),
              since: since ? parseSince(since) : undefined,
              follow: follow === 'true',
              timestamps: timestamps === 'true',
              signal: abort.signal,
            })
          } catch (error) {
            if (error instanceof LogsUnavailableError) throw new OsbError(501, `${error.message}; ${error.hint}`)
            if (error instanceof DbrokerError) throw new OsbError(502, error.message)
            throw error
          }
          const stream = {end: () => abort.abort()}
          streams.add(stream)
          request.raw.on('close', () => {
            abort.abort()
            streams.delete(stream)
          })
          return reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send(Readable.from(chunks))
        })

        scope.post<{Params: {ref: string}}>('/instances/:ref/restart', async (request) => {
          const instance = await lookup(request.params.ref)
          await options.agentFor(await hostOf(instance)).restart(instance.id)
          events.emitChange({kind: 'instance', id: instance.id, action: 'restart', state: instance.state})
          options.log.info(`restarted the container of instance ${instance.id} (admin request)`)
          return {id: instance.id, restarted: true}
        })

        scope.delete<{Params: {ref: string}; Querystring: {async?: string}}>(
          '/instances/:ref',
          async (request, reply) => {
            const instance = await lookup(request.params.ref)
            const result = await provisioner.deprovision(
              instance.id,
              {service_id: instance.serviceId, plan_id: instance.planId},
              {
                acceptsIncomplete: request.query.async === 'true',
                originatingIdentity: 'dbroker-admin',
                requestIdentity: null,
              },
            )
            return reply.code(result.status).send({id: instance.id, ...result.body})
          },
        )

        scope.get('/events', async (request, reply) => {
          const out = new PassThrough()
          // A client that stops reading (a suspended `dbroker top`) is dropped, not buffered for without end.
          const write = (text: string) => {
            out.write(text)
            if (out.writableLength > SSE_MAX_BUFFER) stream.end()
          }
          const send = (event: ChangeEvent) => write(`event: change\ndata: ${JSON.stringify(event)}\n\n`)
          const ping = setInterval(() => write(': ping\n\n'), SSE_PING_MS)
          events.on('change', send)
          if (listeners++ === 0) stopWatching = watchHosts()
          const stream = {
            end: () => {
              if (!streams.delete(stream)) return
              clearInterval(ping)
              events.off('change', send)
              if (--listeners === 0) stopWatching?.()
              out.end()
            },
          }
          streams.add(stream)
          request.raw.on('close', stream.end)
          out.write(': connected\n\n')
          return reply
            .type('text/event-stream')
            .header('Cache-Control', 'no-store')
            .header('X-Accel-Buffering', 'no')
            .send(out)
        })
      },
      {prefix: ADMIN_PREFIX},
    )
  }
}
