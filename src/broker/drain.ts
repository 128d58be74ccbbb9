import type {FastifyInstance} from 'fastify'

import {notFound, OsbError} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Store} from '../store/index.js'
import {basicAuthChecker, type BasicCredentials} from './auth.js'
import type {BrokerEvents} from './events.js'

/**
 * `POST /admin/v1/hosts/:id/drain` and `/undrain`: a drained host keeps its
 * instances but takes no new ones. Admin credentials, as the rest of /admin.
 */
export function drainRoutes(options: {store: Store; events: BrokerEvents; credentials: BasicCredentials; log: Logger}) {
  const authorized = basicAuthChecker(options.credentials)
  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (request) => {
          if (!authorized(request.headers.authorization)) throw new OsbError(401, 'admin credentials are required')
        })
        for (const [action, drained] of [
          ['drain', true],
          ['undrain', false],
        ] as const) {
          scope.post<{Params: {id: string}}>(`/hosts/:id/${action}`, async (request) => {
            const {id} = request.params
            if (!(await options.store.getHost(id))) throw notFound(`host ${id} is not registered`)
            const host = (await options.store.setHostDrained(id, drained))!
            options.log.info(
              `host ${id} ${drained ? 'drained: no new instances' : 'undrained: takes new instances again'}`,
            )
            options.events.emitChange({kind: 'host', id, action, state: host.status})
            return {id, drained: host.drained}
          })
        }
      },
      {prefix: '/admin/v1'},
    )
  }
}
