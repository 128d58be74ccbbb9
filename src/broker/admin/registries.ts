import {z} from 'zod'

import {notFound} from '../../core/errors.js'
import type {BasicCredentials} from '../../core/http-auth.js'
import type {Logger} from '../../core/log.js'
import {EVERY_HOST, type RegistryLogin, registryKey, registrySettings} from '../../core/registries.js'
import type {Store} from '../../store/index.js'
import type {BrokerEvents} from '../events.js'
import {adminScope} from './scope.js'

const registryParam = z.object({
  registry: z.string().transform((value, ctx) => {
    try {
      return registryKey(value)
    } catch (error) {
      ctx.addIssue({code: 'custom', message: (error as Error).message})
      return z.NEVER
    }
  }),
})
const loginBody = z.strictObject({username: z.string().min(1).max(256), password: z.string().min(1).max(4096)})

/**
 * The registry settings hosts should have and the logins of private
 * registries, under /admin/v1 with the admin credentials:
 * `PUT /hosts/registry` (every host), `PUT /hosts/:id/registry` (one host),
 * `GET|PUT|DELETE /registries[/:registry]` (logins; a password is never answered).
 */
export function registryRoutes(options: {
  store: Store
  events: BrokerEvents
  credentials: BasicCredentials
  log: Logger
}) {
  const {store, events, log} = options
  return adminScope(options.credentials, (scope) => {
    scope.put('/hosts/registry', {schema: {body: registrySettings}}, async (request) => {
      await store.registries.setHost(EVERY_HOST, request.body)
      log.info(`registry settings for every host: ${describe(request.body)}`)
      events.emitChange({kind: 'host', id: EVERY_HOST, action: 'registry'})
      return {host: EVERY_HOST, ...request.body}
    })
    scope.put(
      '/hosts/:id/registry',
      {schema: {params: z.object({id: z.string()}), body: registrySettings}},
      async (request) => {
        const {id} = request.params
        if (!(await store.getHost(id))) throw notFound(`host ${id} is not registered`)
        await store.registries.setHost(id, request.body)
        log.info(`registry settings for host ${id}: ${describe(request.body)}`)
        events.emitChange({kind: 'host', id, action: 'registry'})
        return {host: id, ...request.body}
      },
    )

    scope.get('/registries', async (): Promise<RegistryLogin[]> => store.registries.logins())
    scope.put('/registries/:registry', {schema: {params: registryParam, body: loginBody}}, async (request) => {
      const {registry} = request.params
      await store.registries.saveLogin({registry, ...request.body})
      log.info(`registry login for ${registry} stored (user ${request.body.username})`)
      return {registry, username: request.body.username}
    })
    scope.delete('/registries/:registry', {schema: {params: registryParam}}, async (request) => {
      const {registry} = request.params
      if (!(await store.registries.deleteLogin(registry)))
        throw notFound(`no login is stored for registry ${registry}; \`dbroker registry list\` shows those there are`)
      await store.forgetDeleted()
      log.info(`registry login for ${registry} removed`)
      return {registry, removed: true}
    })
  })
}

const describe = (s: {mirrors: string[]; insecure: string[]}) =>
  `mirrors ${s.mirrors.join(', ') || 'none'}; insecure ${s.insecure.join(', ') || 'none'}`
