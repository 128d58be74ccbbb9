import type {FastifyInstance} from 'fastify'
import {z} from 'zod'

import {badRequest, errorMessage} from '../../core/errors.js'
import {type BasicCredentials, REALMS, requireBasicAuth} from '../../core/http-auth.js'
import {Deployments, type DeploymentsOptions} from '../deployments.js'

export interface DeploymentRoutesOptions extends DeploymentsOptions {
  credentials: BasicCredentials
  /** How often unfinished pushes (a host that was down, a broker that stopped mid-deploy) are retried. */
  settleEveryMs?: number
}

const deployBody = z.object({
  /** The manifest's file as the operator named it: errors name it. */
  file: z.string().min(1).max(4096),
  manifest: z.string().max(512 * 1024),
})

function bodyOf(body: unknown): z.infer<typeof deployBody> {
  const result = deployBody.safeParse(body)
  if (!result.success)
    throw badRequest(
      `the body must be {"file": "...", "manifest": "..."}: ${result.error.issues[0].path.join('.') || 'body'} ${result.error.issues[0].message}`,
    )
  return result.data
}

/**
 * `/admin/v1/deployments`: PUT one (the manifest in the body, its name in the
 * path), POST `/:name/diff` for what a PUT would do without doing it, GET the
 * list or one with its containers' state, DELETE one; `/admin/v1/deployed-containers`
 * lists the containers in the instances' shape, `/:id` one of them in detail. Admin credentials, as the rest of /admin.
 */
export function deploymentRoutes(options: DeploymentRoutesOptions) {
  const deployments = new Deployments(options)
  const settleEveryMs = options.settleEveryMs ?? options.keepaliveMs * 5
  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        requireBasicAuth(scope, REALMS.admin, options.credentials)
        const settle = () =>
          deployments.settle().catch((error) => options.log.warn(`settling deployments: ${errorMessage(error)}`))
        const timer = setInterval(() => void settle(), settleEveryMs)
        timer.unref()
        scope.addHook('onReady', async () => void settle())
        scope.addHook('onClose', async () => clearInterval(timer))

        for (const dryRun of [false, true]) {
          const route = dryRun ? '/deployments/:name/diff' : '/deployments/:name'
          const method = dryRun ? 'post' : 'put'
          scope[method]<{Params: {name: string}}>(route, async (request) => {
            const {file, manifest} = bodyOf(request.body)
            return deployments.deploy(manifest, file, {dryRun, name: request.params.name})
          })
        }
        scope.get('/deployments', async () => deployments.status())
        scope.get<{Params: {name: string}}>('/deployments/:name', async (request) => {
          const [one] = await deployments.status(request.params.name)
          return one
        })
        scope.delete<{Params: {name: string}}>('/deployments/:name', async (request) =>
          deployments.remove(request.params.name),
        )
        scope.get('/deployed-containers', async () => deployments.containers())
        scope.get<{Params: {id: string}}>('/deployed-containers/:id', async (request) =>
          deployments.container(request.params.id),
        )
      },
      {prefix: '/admin/v1'},
    )
  }
}
