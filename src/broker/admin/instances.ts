import {z} from 'zod'

import type {ContainerStats, InstanceDetail} from '../../core/admin.js'
import {securityView} from '../../core/security.js'
import type {ContainerState} from '../../core/types.js'
import type {AdminScope} from './scope.js'
import type {AdminOptions, AdminViews} from './views.js'

export const instanceRef = z.object({ref: z.string().min(1)})
const flag = z.string().optional()

/** The instances with their containers' state and stats, one in detail (secrets only when asked for), restart and deprovision. */
export function instanceRoutes(scope: AdminScope, options: AdminOptions, views: AdminViews): void {
  const {store, provisioner, events, catalog} = options

  scope.get('/instances', {schema: {querystring: z.object({stats: flag})}}, async (request) => {
    const [instances, hostList] = await Promise.all([store.listInstances(), store.listHosts()])
    const hosts = new Map(hostList.map((h) => [h.id, h]))
    const unread = new Set<string>()
    const running = await views.containers(hostList, unread)
    const stats =
      request.query.stats === 'false'
        ? new Map<string, ContainerStats>()
        : await views.statsOf(instances, hosts, running)
    return instances.map((i) =>
      views.instanceView(i, hosts.get(i.hostId), running.get(i.spec.instanceId), stats.get(i.id), unread),
    )
  })

  scope.get(
    '/instances/:ref',
    {schema: {params: instanceRef, querystring: z.object({credentials: flag})}},
    async (request): Promise<InstanceDetail> => {
      const instance = await views.lookup(request.params.ref)
      const host = await store.getHost(instance.hostId)
      const unread = new Set<string>()
      const running = host ? await views.containers([host], unread) : new Map<string, ContainerState>()
      const stats = host
        ? await views.statsOf([instance], new Map([[host.id, host]]), running)
        : new Map<string, ContainerStats>()
      const withSecrets = request.query.credentials === 'true'
      const bindings = await store.listBindings(instance.id)
      const op = await store.latestOperation(instance.id)
      return {
        ...views.instanceView(instance, host, running.get(instance.spec.instanceId), stats.get(instance.id), unread),
        image: instance.spec.image,
        client: catalog.plan(instance.planId)?.plan.client ?? null,
        memoryLimitBytes: instance.spec.memoryBytes ?? null,
        nanoCpus: instance.spec.nanoCpus ?? null,
        parameters: instance.parameters,
        context: instance.context,
        volumes: instance.spec.volumes,
        disk: instance.spec.disk ? {path: instance.spec.disk.path, sizeBytes: instance.spec.disk.sizeBytes} : null,
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
          ? {kind: op.kind, state: op.state, description: views.waitText(op, host), updatedAt: op.updatedAt}
          : null,
      }
    },
  )

  scope.post('/instances/:ref/restart', {schema: {params: instanceRef}}, async (request) => {
    const instance = await views.lookupContainer(request.params.ref)
    await options.agentFor(await views.hostOf(instance)).restart(instance.id)
    events.emitChange({kind: 'instance', id: instance.id, action: 'restart', state: instance.state})
    options.log.info(`restarted the container of instance ${instance.id} (admin request)`)
    return {id: instance.id, restarted: true}
  })

  scope.delete(
    '/instances/:ref',
    {schema: {params: instanceRef, querystring: z.object({async: flag})}},
    async (request, reply) => {
      const instance = await views.lookup(request.params.ref)
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
}
