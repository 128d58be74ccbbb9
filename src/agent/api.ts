import {Readable} from 'node:stream'

import Fastify, {type FastifyInstance, type FastifyRequest} from 'fastify'

import type {AgentClient} from '../core/agent.js'
import {type ErrorBody, errorStatus, ownStatus} from '../core/error-status.js'
import {DbrokerError, errorMessage, LogsUnavailableError, UsageError} from '../core/errors.js'
import {requireBrokerCredential} from '../core/http-auth.js'
import type {Logger} from '../core/log.js'
import {guardLogins} from '../core/login-guard.js'
import {
  AGENT_API_PREFIX,
  AGENT_API_ROUTES as ROUTES,
  containerParams as params,
  containerSpec,
  execBody,
  logsQuery,
  removeQuery,
  restartBody,
} from '../core/protocol.js'
import type {ContainerSpec} from '../core/types.js'
import {withZod} from '../core/zod-routes.js'

export {AGENT_API_PREFIX}

export interface AgentApiOptions {
  agent: AgentClient
  /** This host's token: the API accepts only the broker credential derived from it, never a token itself. */
  hostToken: string
  log: Logger
  https?: {key: string | Buffer; cert: string | Buffer}
  /** Told of every change the broker asks for, so a converge pass with an older answer leaves that instance alone. */
  onTouched?: (instanceId: string) => void
  /** A broker probed /healthz: it looks for this agent, so failing heartbeats should try again now. */
  onProbed?: () => void
}

/**
 * The agent's own HTTP API: the remote transport of `AgentClient`. Every
 * route but /healthz wants the brokers' credential for this host, which no
 * other host's agent can make.
 */
export function buildAgentApi(options: AgentApiOptions): FastifyInstance {
  const {agent} = options
  const app = Fastify({
    logger: false,
    bodyLimit: 4 * 1024 * 1024,
    ...(options.https ? {https: options.https} : {}),
    forceCloseConnections: 'idle',
  }) as unknown as FastifyInstance
  const touched = (id: string) => options.onTouched?.(id)

  app.setErrorHandler((error: Error, request, reply) => {
    const status = errorStatus(error)?.status ?? ownStatus(error) ?? 500
    if (status >= 500) options.log.warn(`${request.method} ${request.url} -> ${status}: ${errorMessage(error)}`)
    const hint = error instanceof DbrokerError ? error.hint : undefined
    return reply
      .code(status)
      .send({error: error.name, description: errorMessage(error), ...(hint ? {hint} : {})} satisfies ErrorBody)
  })
  app.get('/healthz', async () => {
    options.onProbed?.()
    return {status: 'ok'}
  })
  guardLogins(app, {log: options.log})

  void app.register(
    async (plain) => {
      requireBrokerCredential(plain, options.hostToken)
      // The broker built the spec; a wrong one fails here, naming the field, not deep in Docker.
      const scope = withZod(plain, (message) => new UsageError(message))
      scope.get(ROUTES.facts, () => agent.facts())
      scope.get(ROUTES.containers, () => agent.list())
      // The spec as sent, not zod's output: a container made before the canonical spec hash is known by the hash of its key order.
      const sent = new WeakMap<object, ContainerSpec>()
      const keepSent = async (request: FastifyRequest) => void sent.set(request, request.body as ContainerSpec)
      scope.put(
        ROUTES.container,
        {schema: {params, body: containerSpec}, preValidation: keepSent},
        async (request, reply) => {
          const spec = sent.get(request) ?? request.body
          if (spec.instanceId !== request.params.id)
            throw new UsageError(`the spec is for instance ${spec.instanceId}, not ${request.params.id}`)
          touched(spec.instanceId)
          const abort = new AbortController()
          reply.raw.on('close', () => {
            if (!reply.raw.writableEnded) abort.abort(new Error('the broker hung up'))
          })
          return agent.apply(spec, {signal: abort.signal})
        },
      )
      scope.delete(ROUTES.container, {schema: {params, querystring: removeQuery}}, async (request, reply) => {
        touched(request.params.id)
        await agent.remove(request.params.id, {keepData: request.query.keepData === 'true'})
        return reply.code(204).send()
      })
      scope.post(ROUTES.exec, {schema: {params, body: execBody}}, async (request) =>
        agent.exec(request.params.id, request.body.command, request.body.env, {
          stdin: request.body.stdin,
          containerName: request.body.containerName,
        }),
      )
      scope.post(ROUTES.restart, {schema: {params, body: restartBody}}, async (request, reply) => {
        touched(request.params.id)
        await agent.restart(request.params.id, request.body)
        return reply.code(204).send()
      })
      scope.get(ROUTES.container, {schema: {params}}, async (request) => {
        if (!agent.inspect) throw new DbrokerError('this agent cannot inspect containers')
        return {state: (await agent.inspect(request.params.id)) ?? null}
      })
      scope.get(ROUTES.stats, {schema: {params}}, async (request) => {
        if (!agent.stats) throw new DbrokerError('this agent cannot read stats')
        return {stats: (await agent.stats(request.params.id)) ?? null}
      })
      scope.get(ROUTES.logs, {schema: {params, querystring: logsQuery}}, async (request, reply) => {
        if (!agent.logs) throw new LogsUnavailableError('this agent cannot read logs')
        const q = request.query
        const abort = new AbortController()
        reply.raw.on('close', () => abort.abort())
        const chunks = await agent.logs(request.params.id, {
          tail: q.tail === undefined ? undefined : Number(q.tail),
          since: q.since === undefined ? undefined : Number(q.since),
          follow: q.follow === 'true',
          timestamps: q.timestamps === 'true',
          signal: abort.signal,
        })
        return reply.type('text/plain; charset=utf-8').send(Readable.from(chunks))
      })
    },
    {prefix: AGENT_API_PREFIX},
  )
  return app
}
