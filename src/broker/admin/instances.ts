import {z} from 'zod'

import type {ContainerStats, InstanceDetail} from '../../core/admin.js'
import {KEY_PREFIX} from '../../core/deployments.js'
import {securityView} from '../../core/security.js'
import {OsbError} from '../../core/errors.js'
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
    const running = await views.containers(hostList, unread, instances)
    const stats =
      request.query.stats === 'false'
        ? new Map<string, ContainerStats>()
        : await views.statsOf(instances, hosts, running)
    return instances.map((i) => views.instanceView(i, hosts.get(i.hostId), running, stats.get(i.id), unread, instances))
  })

  scope.get(
    '/instances/:ref',
    {schema: {params: instanceRef, querystring: z.object({credentials: flag})}},
    async (request): Promise<InstanceDetail> => {
      const instance = await views.lookup(request.params.ref)
      const host = await store.getHost(instance.hostId)
      const unread = new Set<string>()
      const running = host ? await views.containers([host], unread, [instance]) : new Map<string, ContainerState>()
      const stats = host
        ? await views.statsOf([instance], new Map([[host.id, host]]), running)
        : new Map<string, ContainerStats>()
      const withSecrets = request.query.credentials === 'true'
      const bindings = await store.listBindings(instance.id)
      const op = await store.latestOperation(instance.id)
      return {
        ...views.instanceView(
          instance,
          host,
          running,
          stats.get(instance.id),
          unread,
          await store.listInstances({hostId: instance.hostId}),
        ),
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

  scope.post(
    '/instances/:ref/restart',
    {schema: {params: instanceRef, querystring: z.object({force: flag})}},
    async (request) => {
      const instance = await views.lookupContainer(request.params.ref)
      const {shared} = instance
      // A shared or adopted container serves others too: a restart interrupts them all, so it is asked for by name.
      if (shared && request.query.force !== 'true')
        throw new OsbError(
          409,
          `instance ${instance.id} lives in ${shared.kind === 'shared' ? 'shared' : 'the adopted'} container ${shared.container}${shared.tenants > 0 ? ` with ${shared.tenants} other instance(s)` : ''}: restarting it interrupts every instance there; ask again with force=true (dbroker restart --force)`,
        )
      await options.agentFor(await views.hostOf(instance)).restart(instance.target)
      events.emitChange({kind: 'instance', id: instance.id, action: 'restart', state: instance.state})
      options.log.info(
        `restarted ${shared ? `${shared.kind} container ${shared.container}` : 'the container'} of instance ${instance.id} (admin request)`,
      )
      return {
        id: instance.id,
        restarted: true,
        ...(shared ? {container: shared.container, tenants: shared.tenants} : {}),
      }
    },
  )

  scope.delete(
    '/instances/:ref',
    {schema: {params: instanceRef, querystring: z.object({async: flag})}},
    async (request, reply) => {
      const {ref} = request.params
      const deployed = ref.startsWith(KEY_PREFIX) ? await store.deployments.container(ref) : undefined
      // A manifest's container is changed by its manifest: deleting one alone would leave the deployment saying otherwise.
      if (deployed)
        throw new OsbError(
          409,
          `${ref} is a container of deployment ${deployed.deployment}: its manifest changes it; \`dbroker deploy delete ${deployed.deployment}\` removes the whole deployment`,
        )
      const instance = await views.lookup(ref)
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
