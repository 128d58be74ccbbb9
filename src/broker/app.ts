import Fastify, {type FastifyInstance, type FastifyRequest} from 'fastify'

import type {Catalog} from '../catalog/index.js'
import {type ErrorBody, errorStatus, ownStatus} from '../core/error-status.js'
import {type DbrokerError, errorMessage, OsbError} from '../core/errors.js'
import type {BasicCredentials} from '../core/http-auth.js'
import type {Logger} from '../core/log.js'
import {capStreams} from './limits.js'
import {guardLogins} from '../core/login-guard.js'
import {osbRoutes} from './osb.js'
import {unreachableHost} from './reachability.js'
import type {Provisioner} from './lifecycle/index.js'
import {showsEngineInternals} from './lifecycle/platform-description.js'

export interface BrokerAppOptions {
  catalog: Catalog
  provisioner: Provisioner
  credentials: BasicCredentials
  log: Logger
  /** Resolves when the store and the engine answer; throws the reason otherwise. */
  health: () => Promise<void>
  https?: {key: string | Buffer; cert: string | Buffer}
  /** More route plugins (admin, agents), each mounted with its own prefix and auth. */
  plugins?: Array<(app: FastifyInstance) => Promise<void>>
}

/** Builds the broker's HTTP app; `listen` is the caller's, so tests start it on port 0. */
export function buildBrokerApp(options: BrokerAppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    ...(options.https ? {https: options.https} : {}),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }) as unknown as FastifyInstance

  // Platforms send DELETE and GET with a JSON content type and no body: that is no body, not an error.
  // fastify's own text/plain parser goes too, so a text body meets the JSON-only rule below.
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', {parseAs: 'string'}, (_request, body, done) => {
    const text = (body as string).trim()
    if (text === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(new OsbError(400, 'the request body is not valid JSON'), undefined)
    }
  })
  // OSB is JSON only: any other body type is a 400 with an OSB error body, not fastify's 415.
  app.addContentTypeParser('*', (_request, _payload, done) => {
    done(new OsbError(400, 'the request body must be JSON (Content-Type: application/json)'), undefined)
  })

  /** A platform's answer carries no engine internals: the request's id leads the operator to them in this log. */
  const described = (request: FastifyRequest, description: string): string => {
    if (!request.url.startsWith('/v2/') || !showsEngineInternals(description)) return description
    options.log.warn(
      `${request.method} ${request.url} (request ${request.id}) failed in the host's engine: ${description}`,
    )
    return `the host's engine failed; see the broker log, request ${request.id}`
  }

  app.setErrorHandler((error: Error & {code?: string}, request, reply) => {
    if (error instanceof OsbError) {
      if (error.status >= 500) options.log.warn(`${request.method} ${request.url} -> ${error.status}: ${error.message}`)
      return reply.code(error.status).send({
        ...(error.code ? {error: error.code} : {}),
        description: described(request, error.message),
        ...error.extra,
      })
    }
    const own = ownStatus(error)
    if (own !== undefined) {
      const description =
        error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'the request body must be JSON (Content-Type: application/json)'
          : error.message
      return reply.code(own === 415 ? 400 : own).send({description})
    }
    const known = errorStatus(error)
    if (known) {
      const hint = (error as DbrokerError).hint
      // The host's agent could not be reached (or the broker gave up on it): the service is unavailable for now, not broken.
      const status = unreachableHost(error) ? 503 : known.status
      if (status >= 500) options.log.warn(`${request.method} ${request.url} -> ${status}: ${error.message}`)
      return reply.code(status).send({
        error: known.name,
        description: described(request, error.message),
        ...(hint ? {hint} : {}),
      } satisfies ErrorBody)
    }
    options.log.error(`${request.method} ${request.url} failed: ${error.stack ?? errorMessage(error)}`)
    return reply.code(500).send({description: described(request, `internal error: ${errorMessage(error)}`)})
  })

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({description: `no route for ${request.method} ${request.url.split('?')[0]}`}),
  )

  // One line per request at debug level only: with debug off no hook runs and no line is built.
  if (options.log.level === 'debug') {
    app.addHook('onResponse', (request, reply, done) => {
      const rid = request.headers['x-broker-api-request-identity']
      options.log.debug(
        `${request.method} ${request.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms${rid ? ` request-identity=${String(rid)}` : ''}`,
      )
      done()
    })
  }

  app.get('/healthz', async (_request, reply) => {
    try {
      await options.health()
      return reply.send({status: 'ok'})
    } catch (error) {
      return reply.code(503).send({status: 'unavailable', reason: errorMessage(error)})
    }
  })

  guardLogins(app, {log: options.log})
  void app.register(
    osbRoutes({catalog: options.catalog, provisioner: options.provisioner, credentials: options.credentials}),
  )
  // The stream cap counts only the admin and agent routes' streams: the OSB routes, the catalog above all, skip its hook.
  void app.register(async (routes) => {
    capStreams(routes)
    for (const plugin of options.plugins ?? []) void routes.register(plugin)
  })
  return app
}
