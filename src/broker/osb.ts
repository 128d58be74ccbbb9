import {createHash} from 'node:crypto'

import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import {z} from 'zod'

import type {Catalog} from '../catalog/index.js'
import {badRequest, OsbError} from '../core/errors.js'
import {basicAuthChecker, type BasicCredentials} from './auth.js'
import {catalogInDialect, inDialect, parseVersion, VERSIONS} from './dialect.js'
import type {Provisioner} from './lifecycle/index.js'
import {checkId, checkRecordedHeaders} from './limits.js'
import {isDeploymentKey} from '../manifest/specs.js'
import {
  bindBody,
  deleteQuery,
  provisionBody,
  type OsbQuery,
  type Reply,
  type RequestMeta,
  updateBody,
} from './osb-schema.js'

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('the request body must be a JSON object')
  return parseWith(schema, body)
}

/** A zod parse whose failure is a 400 naming each field. */
function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value)
  if (!result.success) {
    throw badRequest(
      result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; '),
    )
  }
  return result.data
}

interface Params {
  instance_id: string
  binding_id?: string
}

declare module 'fastify' {
  interface FastifyRequest {
    osbVersion: number
  }
}

/** Decodes `X-Broker-API-Originating-Identity` for the audit record; never fails the request. */
export function originatingIdentity(header: string | undefined): string | null {
  if (!header) return null
  const [platform, encoded] = header.trim().split(/\s+/, 2)
  if (!encoded) return platform
  try {
    return `${platform} ${JSON.stringify(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')))}`
  } catch {
    return header
  }
}

/** If-None-Match uses the weak comparison: a list of tags, `W/` prefixes (added by compressing proxies) or `*`. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t.replace(/^W\//, '') === etag
  })
}

const versions = new Map<string, number>()

/** parseVersion, remembered for the few headers platforms send; anything else is parsed each time and not kept. */
function versionOf(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string') return undefined
  const known = versions.get(header)
  if (known !== undefined) return known
  const version = parseVersion(header)
  if (version !== undefined && versions.size < 64) versions.set(header, version)
  return version
}

/**
 * A platform sends the same Authorization header on every request: one that
 * passed the constant-time check once is let through on a map lookup, saving a
 * hash per request. Only accepted headers are kept (a handful); any other
 * header, right or wrong, takes the full check.
 */
function rememberAccepted(check: (header: string | undefined) => boolean): (header: string | undefined) => boolean {
  const accepted = new Set<string>()
  return (header) => {
    if (header !== undefined && accepted.has(header)) return true
    const ok = check(header)
    if (ok && header !== undefined && accepted.size < 8) accepted.add(header)
    return ok
  }
}

/** The OSB v2 routes: version check, basic auth, and one handler per endpoint. */
export function osbRoutes(options: {catalog: Catalog; provisioner: Provisioner; credentials: BasicCredentials}) {
  const authorized = rememberAccepted(basicAuthChecker(options.credentials))
  const {provisioner, catalog} = options
  // Each dialect's catalog, serialized and tagged once: the answer costs no work per request.
  const catalogReplies = new Map(
    VERSIONS.map((version) => {
      const body = Buffer.from(JSON.stringify(catalogInDialect(catalog.definition, version)))
      return [version, {body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`}]
    }),
  )

  const meta = (request: FastifyRequest<{Querystring: OsbQuery}>): RequestMeta => ({
    acceptsIncomplete: request.query.accepts_incomplete === 'true',
    originatingIdentity: originatingIdentity(
      request.headers['x-broker-api-originating-identity'] as string | undefined,
    ),
    requestIdentity: (request.headers['x-broker-api-request-identity'] as string | undefined) ?? null,
  })

  const send = (request: FastifyRequest, reply: FastifyReply, result: Reply) => {
    if (result.status === 200 && 'state' in result.body && result.body.state === 'in progress')
      void reply.header('Retry-After', '2')
    return reply.code(result.status).send(inDialect(result.body, request.osbVersion))
  }

  const checkIds = (params: Params) => {
    if (params.instance_id === '') throw badRequest('instance_id must not be empty')
    if (params.binding_id === '') throw badRequest('binding_id must not be empty')
    checkId('instance_id', params.instance_id)
    // Manifest containers are keyed `deploy:...` in the same space: a platform must not name (and so take over) one.
    if (isDeploymentKey(params.instance_id))
      throw badRequest(`instance_id must not start with "deploy:"; that prefix names manifest containers`)
    if (params.binding_id !== undefined) checkId('binding_id', params.binding_id)
  }

  return async function osb(app: FastifyInstance): Promise<void> {
    app.decorateRequest('osbVersion', 0)

    // A callback hook, not an async one: every OSB request passes here, and the catalog's answer is otherwise free.
    app.addHook('onRequest', (request, reply, done) => {
      const rid = request.headers['x-broker-api-request-identity']
      if (typeof rid === 'string') void reply.header('X-Broker-API-Request-Identity', rid)
      if (!authorized(request.headers.authorization)) {
        void reply.header('WWW-Authenticate', 'Basic realm="dbroker"')
        return done(new OsbError(401, 'missing or wrong credentials'))
      }
      const given = request.headers['x-broker-api-version']
      const version = versionOf(given)
      if (version === undefined) {
        return done(
          new OsbError(
            412,
            given
              ? `X-Broker-API-Version ${String(given)} is not supported; use 2.13 to 2.17`
              : 'the X-Broker-API-Version header is required (2.13 to 2.17)',
          ),
        )
      }
      request.osbVersion = version
      // The identity headers are recorded and echoed: too long or with control characters, the request is a 400.
      try {
        checkRecordedHeaders(request.headers)
      } catch (error) {
        return done(error as Error)
      }
      done()
    })

    app.get('/v2/catalog', (request, reply) => {
      const {body, etag} = catalogReplies.get(request.osbVersion)!
      void reply.header('ETag', etag).header('Content-Type', 'application/json; charset=utf-8')
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
      return reply.send(body)
    })

    void app.register(instanceRoutes)
  }

  async function instanceRoutes(app: FastifyInstance): Promise<void> {
    // Every route with ids checks them before its handler: "", an overlong id or one with control characters is a 400 that changes nothing.
    app.addHook('preHandler', async (request) => {
      const params = request.params as Partial<Params> | undefined
      if (params && typeof params.instance_id === 'string') checkIds(params as Params)
    })

    type Req = {Params: Params; Querystring: OsbQuery}

    app.put<Req>('/v2/service_instances/:instance_id', async (request, reply) => {
      const body = parseBody(provisionBody, request.body)
      return send(request, reply, await provisioner.provision(request.params.instance_id, body, meta(request)))
    })

    app.get<Req>('/v2/service_instances/:instance_id', async (request, reply) => {
      return send(request, reply, await provisioner.fetchInstance(request.params.instance_id))
    })

    app.patch<Req>('/v2/service_instances/:instance_id', async (request, reply) => {
      const body = parseBody(updateBody, request.body)
      return send(request, reply, await provisioner.update(request.params.instance_id, body, meta(request)))
    })

    app.delete<Req>('/v2/service_instances/:instance_id', async (request, reply) => {
      return send(
        request,
        reply,
        await provisioner.deprovision(request.params.instance_id, parseWith(deleteQuery, request.query), meta(request)),
      )
    })

    app.get<Req>('/v2/service_instances/:instance_id/last_operation', async (request, reply) => {
      return send(
        request,
        reply,
        await provisioner.lastOperation(request.params.instance_id, undefined, request.query.operation),
      )
    })

    app.put<Req>('/v2/service_instances/:instance_id/service_bindings/:binding_id', async (request, reply) => {
      const body = parseBody(bindBody, request.body)
      return send(
        request,
        reply,
        await provisioner.bind(request.params.instance_id, request.params.binding_id!, body, meta(request)),
      )
    })

    app.get<Req>('/v2/service_instances/:instance_id/service_bindings/:binding_id', async (request, reply) => {
      return send(
        request,
        reply,
        await provisioner.fetchBinding(request.params.instance_id, request.params.binding_id!),
      )
    })

    app.delete<Req>('/v2/service_instances/:instance_id/service_bindings/:binding_id', async (request, reply) => {
      return send(
        request,
        reply,
        await provisioner.unbind(
          request.params.instance_id,
          request.params.binding_id!,
          parseWith(deleteQuery, request.query),
          meta(request),
        ),
      )
    })

    app.get<Req>(
      '/v2/service_instances/:instance_id/service_bindings/:binding_id/last_operation',
      async (request, reply) => {
        return send(
          request,
          reply,
          await provisioner.lastOperation(
            request.params.instance_id,
            request.params.binding_id,
            request.query.operation,
          ),
        )
      },
    )
  }
}
