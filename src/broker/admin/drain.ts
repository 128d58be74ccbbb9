import {z} from 'zod'

import {notFound} from '../../core/errors.js'
import type {Logger} from '../../core/log.js'
import type {Store} from '../../store/index.js'
import type {BasicCredentials} from '../../core/http-auth.js'
import type {BrokerEvents} from '../events.js'
import {adminScope} from './scope.js'

/**
 * `POST /admin/v1/hosts/:id/drain` and `/undrain`: a drained host keeps its
 * instances but takes no new ones.
 */
export function drainRoutes(options: {store: Store; events: BrokerEvents; credentials: BasicCredentials; log: Logger}) {
  return adminScope(options.credentials, (scope) => {
    for (const [action, drained] of [
      ['drain', true],
      ['undrain', false],
    ] as const) {
      scope.post(`/hosts/:id/${action}`, {schema: {params: z.object({id: z.string()})}}, async (request) => {
        const {id} = request.params
        if (!(await options.store.getHost(id))) throw notFound(`host ${id} is not registered`)
        const host = (await options.store.setHostDrained(id, drained))!
        options.log.info(`host ${id} ${drained ? 'drained: no new instances' : 'undrained: takes new instances again'}`)
        options.events.emitChange({kind: 'host', id, action, state: host.status})
        return {id, drained: host.drained}
      })
    }
  })
}
