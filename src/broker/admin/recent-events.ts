import type {FastifyInstance} from 'fastify'

import type {ChangeEvent} from '../../core/admin.js'
import {badRequest} from '../../core/errors.js'
import {type BasicCredentials, REALMS, requireBasicAuth} from '../../core/http-auth.js'
import type {BrokerEvents} from '../events.js'

/** How many changes a broker remembers for `GET /admin/v1/events/recent`; older ones fall off. */
export const RECENT_EVENTS = 1000

/**
 * `GET /admin/v1/events/recent?limit=N`: the last changes this broker saw
 * since it started (its own and, over a shared store, the other brokers'),
 * oldest first. Kept in memory only: a restarted broker starts empty.
 */
export function recentEventRoutes(options: {events: BrokerEvents; credentials: BasicCredentials; capacity?: number}) {
  const capacity = options.capacity ?? RECENT_EVENTS
  const ring: ChangeEvent[] = []
  options.events.on('change', (event) => {
    ring.push(event)
    if (ring.length > capacity) ring.splice(0, ring.length - capacity)
  })
  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        requireBasicAuth(scope, REALMS.admin, options.credentials)
        scope.get<{Querystring: {limit?: string}}>('/events/recent', async (request) => {
          const given = request.query.limit
          const limit = given === undefined ? capacity : Number(given)
          if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit ${given} is not a number of events`)
          return limit === 0 ? [] : ring.slice(-limit)
        })
      },
      {prefix: '/admin/v1'},
    )
  }
}
