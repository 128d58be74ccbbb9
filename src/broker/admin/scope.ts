import type {FastifyInstance} from 'fastify'

import {type BasicCredentials, REALMS, requireBasicAuth} from '../../core/http-auth.js'
import {withZod, type ZodApp} from '../../core/zod-routes.js'

export const ADMIN_PREFIX = '/admin/v1'

export type AdminScope = ZodApp

/**
 * One admin plugin: its routes under /admin/v1, behind the admin realm's
 * basic auth, typed by their zod schemas. Every admin resource is mounted
 * through this, so none can be added without the admin credentials.
 */
export function adminScope(
  credentials: BasicCredentials,
  routes: (scope: AdminScope) => void | Promise<void>,
): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    await app.register(
      async (scope) => {
        requireBasicAuth(scope, REALMS.admin, credentials)
        await routes(withZod(scope))
      },
      {prefix: ADMIN_PREFIX},
    )
  }
}
