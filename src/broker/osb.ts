import {createHash} from 'node:crypto'

import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import type {Catalog} from '../catalog/index.js'
import {badRequest, OsbError} from '../core/errors.js'
import {type BasicCredentials, REALMS, requireBasicAuth} from '../core/http-auth.js'
import {withZod} from '../core/zod-routes.js'
import {catalogInDialect, inDialect, parseVersion, VERSIONS} from './dialect.js'
import type {Provisioner} from './lifecycle/index.js'
import {checkId, checkRecordedHeaders} from './limits.js'
import {isDeploymentKey} from '../manifest/specs.js'
import {
  bindBody,
  bindingParams,
  type DeleteQuery,
  instanceParams,
  osbQuery,
  provisionBody,
  type OsbQuery,
  type Reply,
  type RequestMeta,
  updateBody,
} from './osb-schema.js'

interface Params {
  instance_id: string
  binding_id?: string
}

/** The ids a DELETE names, and nothing else of its query: they make the request's identity. */
const deleteIds = (query: OsbQuery): DeleteQuery => ({service_id: query.service_id, plan_id: query.plan_id})

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

/** The OSB v2 routes: version check, basic auth, and one handler per endpoint. */
export function osbRoutes(options: {catalog: Catalog; provisioner: Provisioner; credentials: BasicCredentials}) {
  const {provisioner, catalog} = options
  // Each dialect's catalog, serialized and tagged once per catalog change: the answer costs no work per request.
  const repliesOf = () =>
    new Map(
      VERSIONS.map((version) => {
        const body = Buffer.from(JSON.stringify(catalogInDialect(catalog.definition, version)))
        return [version, {body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`}]
      }),
    )
  let catalogReplies = repliesOf()
  let repliesRevision = catalog.revision
  const catalogReply = (version: number) => {
    if (repliesRevision !== catalog.revision) {
      repliesRevision = catalog.revision
      catalogReplies = repliesOf()
    }
    return catalogReplies.get(version)!
  }

  const meta = (request: {query: OsbQuery; headers: FastifyRequest['headers']}): RequestMeta => ({
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

    // Callback hooks, not async ones: every OSB request passes here, and the catalog's answer is otherwise free.
    app.addHook('onRequest', (request, reply, done) => {
      const rid = request.headers['x-broker-api-request-identity']
      if (typeof rid === 'string') void reply.header('X-Broker-API-Request-Identity', rid)
      done()
    })
    requireBasicAuth(app, REALMS.osb, options.credentials)
    app.addHook('onRequest', (request, _reply, done) => {
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
      const {body, etag} = catalogReply(request.osbVersion)
      void reply.header('ETag', etag).header('Content-Type', 'application/json; charset=utf-8')
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
      return reply.send(body)
    })

    void app.register(instanceRoutes)
  }

  async function instanceRoutes(app: FastifyInstance): Promise<void> {
    // Every route with ids checks them before its body: "", an overlong id or one with control characters is a 400 that changes nothing.
    app.addHook('preValidation', async (request) => {
      const params = request.params as Partial<Params> | undefined
      if (params && typeof params.instance_id === 'string') checkIds(params as Params)
    })
    const routes = withZod(app)
    const instance = {params: instanceParams, querystring: osbQuery}
    const binding = {params: bindingParams, querystring: osbQuery}

    routes.put(
      '/v2/service_instances/:instance_id',
      {schema: {...instance, body: provisionBody}},
      async (request, reply) =>
        send(request, reply, await provisioner.provision(request.params.instance_id, request.body, meta(request))),
    )

    routes.get('/v2/service_instances/:instance_id', {schema: instance}, async (request, reply) =>
      send(request, reply, await provisioner.fetchInstance(request.params.instance_id)),
    )

    routes.patch(
      '/v2/service_instances/:instance_id',
      {schema: {...instance, body: updateBody}},
      async (request, reply) =>
        send(request, reply, await provisioner.update(request.params.instance_id, request.body, meta(request))),
    )

    routes.delete('/v2/service_instances/:instance_id', {schema: instance}, async (request, reply) =>
      send(
        request,
        reply,
        await provisioner.deprovision(request.params.instance_id, deleteIds(request.query), meta(request)),
      ),
    )

    routes.get('/v2/service_instances/:instance_id/last_operation', {schema: instance}, async (request, reply) =>
      send(
        request,
        reply,
        await provisioner.lastOperation(request.params.instance_id, undefined, request.query.operation),
      ),
    )

    const bindingPath = '/v2/service_instances/:instance_id/service_bindings/:binding_id'
    routes.put(bindingPath, {schema: {...binding, body: bindBody}}, async (request, reply) =>
      send(
        request,
        reply,
        await provisioner.bind(request.params.instance_id, request.params.binding_id, request.body, meta(request)),
      ),
    )

    routes.get(bindingPath, {schema: binding}, async (request, reply) =>
      send(request, reply, await provisioner.fetchBinding(request.params.instance_id, request.params.binding_id)),
    )

    routes.delete(bindingPath, {schema: binding}, async (request, reply) =>
      send(
        request,
        reply,
        await provisioner.unbind(
          request.params.instance_id,
          request.params.binding_id,
          deleteIds(request.query),
          meta(request),
        ),
      ),
    )

    routes.get(`${bindingPath}/last_operation`, {schema: binding}, async (request, reply) =>
      send(
        request,
        reply,
        await provisioner.lastOperation(request.params.instance_id, request.params.binding_id, request.query.operation),
      ),
    )
  }
}
