import {z} from 'zod'

import type {BasicCredentials} from '../../core/http-auth.js'
import type {BrokerEvents} from '../events.js'
import type {StoredCatalog} from '../stored-catalog.js'
import {adminScope} from './scope.js'

const ref = z.object({ref: z.string().min(1).max(255)})
const version = z.number().int().positive()

/**
 * `/admin/v1/catalog/services`: the catalog the store holds, changed at
 * runtime. GET the list (with the catalog's generation) or one service (by
 * name or id), POST `{service}` adds one, PUT `{version, service}` replaces
 * one at that version (another is a 409), DELETE removes one
 * (`?version=N` to be sure of what). A service in the catalog file's shape,
 * checked by its loader; a plan with instances stays (409 naming them).
 * Every change reaches `GET /v2/catalog` of every broker on the store.
 */
export function catalogRoutes(options: {catalog: StoredCatalog; events: BrokerEvents; credentials: BasicCredentials}) {
  const {catalog} = options
  return adminScope(options.credentials, (scope) => {
    const unfollow = catalog.follow(options.events)
    scope.addHook('onClose', async () => unfollow())

    scope.get('/catalog/services', async () => catalog.list())
    scope.get('/catalog/services/:ref', {schema: {params: ref}}, async (request) => catalog.get(request.params.ref))
    scope.post(
      '/catalog/services',
      {schema: {body: z.object({service: z.record(z.string(), z.unknown())})}},
      async (request, reply) => reply.code(201).send(await catalog.add(request.body.service)),
    )
    scope.put(
      '/catalog/services/:ref',
      {schema: {params: ref, body: z.object({version, service: z.record(z.string(), z.unknown())})}},
      async (request) => catalog.update(request.params.ref, request.body.version, request.body.service),
    )
    scope.delete(
      '/catalog/services/:ref',
      {schema: {params: ref, querystring: z.object({version: z.coerce.number().pipe(version).optional()})}},
      async (request) => catalog.remove(request.params.ref, request.query.version),
    )
  })
}
