import {z} from 'zod'

import {conflict, notFound} from '../../core/errors.js'
import {
  HOST_ID_PATTERN,
  type HostEnrollment,
  hostTokenHash,
  newHostToken,
  type PendingHostChange,
} from '../../core/host-identity.js'
import type {Logger} from '../../core/log.js'
import {hostIdentities, type Store} from '../../store/index.js'
import type {BasicCredentials} from '../../core/http-auth.js'
import type {BrokerEvents} from '../events.js'
import {adminScope} from './scope.js'

export interface HostEnrollmentOptions {
  store: Store
  events: BrokerEvents
  credentials: BasicCredentials
  log: Logger
}

/**
 * The operator's side of host identity, under /admin/v1 with the admin
 * credentials: enroll a host (its token is answered once and only its hash
 * kept), list enrolled hosts with the address changes they asked for,
 * approve such a change, revoke a host's token.
 */
export function hostEnrollmentRoutes(options: HostEnrollmentOptions) {
  const {store, events, log} = options
  const params = z.object({
    id: z.string().regex(HOST_ID_PATTERN, 'a host name uses letters, digits, ".", "_" and "-" (at most 63)'),
  })
  return adminScope(options.credentials, (scope) => {
    scope.get('/enrollments', async (): Promise<HostEnrollment[]> => hostIdentities.listHostIdentities(store))

    scope.post(
      '/hosts/:id/enroll',
      {schema: {params, querystring: z.object({rotate: z.string().optional()})}},
      async (request, reply) => {
        const id = request.params.id
        const token = newHostToken()
        const outcome = await hostIdentities.enrollHost(store, id, hostTokenHash(token), {
          replace: request.query.rotate === 'true',
        })
        if (outcome === 'exists')
          throw conflict(
            `host ${id} is enrolled already; a new token (the old one stops working) is \`dbroker hosts add ${id} --rotate\``,
          )
        log.info(
          `host ${id} ${outcome === 'replaced' ? 'has a new token; the old one no longer works' : 'is enrolled'}`,
        )
        events.emitChange({kind: 'host', id, action: outcome === 'replaced' ? 'rotate' : 'enroll'})
        return reply.code(outcome === 'enrolled' ? 201 : 200).send({id, token})
      },
    )

    scope.post('/hosts/:id/approve', {schema: {params}}, async (request): Promise<PendingHostChange & {id: string}> => {
      const id = request.params.id
      const change = await hostIdentities.approvePendingChange(store, id)
      if (!change) throw notFound(`host ${id} has no change waiting for approval`)
      log.info(
        `host ${id}: the operator approved agent URL ${change.agentUrl}, service address ${change.serviceAddress}, bind address ${change.bindAddress}`,
      )
      events.emitChange({
        kind: 'host',
        id,
        action: 'approve',
        state: 'dead',
        description: `until its agent registers at ${change.agentUrl}`,
      })
      return {id, ...change}
    })

    scope.delete('/hosts/:id/enrollment', {schema: {params}}, async (request) => {
      const id = request.params.id
      if (!(await hostIdentities.revokeHost(store, id))) throw notFound(`host ${id} is not enrolled`)
      log.warn(
        `host ${id}: its token is revoked and the host is dead; its agent can no longer register, heartbeat or be called`,
      )
      events.emitChange({kind: 'host', id, action: 'revoke', state: 'dead'})
      return {id, revoked: true}
    })
  })
}
