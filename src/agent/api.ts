import {Readable} from 'node:stream'

import Fastify, {type FastifyInstance} from 'fastify'
import {z} from 'zod'

import type {AgentClient} from '../core/agent.js'
import {DbrokerError, EngineError, errorMessage, LogsUnavailableError} from '../core/errors.js'
import {brokerCredentialChecker} from '../core/host-identity.js'
import type {Logger} from '../core/log.js'
import {guardLogins} from '../core/login-guard.js'
import type {ContainerSpec} from '../core/types.js'

export const AGENT_API_PREFIX = '/v1'

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

// The broker built the spec; this checks its shape so a wrong client fails clearly, not deep in Docker.
const specSchema = z.looseObject({
  instanceId: z.string().min(1),
  name: z.string().min(1),
  image: z.string().min(1),
  env: z.record(z.string(), z.string()),
  ports: z.array(z.object({container: z.number().int(), host: z.number().int(), protocol: z.enum(['tcp', 'udp'])})),
  bindAddress: z.string(),
  volumes: z.array(z.object({name: z.string(), path: z.string()})),
  restart: z.enum(['no', 'always', 'unless-stopped', 'on-failure']),
  labels: z.record(z.string(), z.string()),
  readiness: z.looseObject({probe: z.enum(['tcp', 'exec', 'healthcheck', 'none']), timeoutMs: z.number()}),
  hooks: z.looseObject({}),
})
const execSchema = z.object({command: z.array(z.string()).min(1), env: z.record(z.string(), z.string()).default({})})

function statusOf(error: unknown): number {
  if (error instanceof LogsUnavailableError) return 501
  if (error instanceof EngineError) return 502
  if (error instanceof DbrokerError) return 400
  return (error as {statusCode?: number}).statusCode ?? 500
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
  const authorized = brokerCredentialChecker(options.hostToken)
  const touched = (id: string) => options.onTouched?.(id)

  app.setErrorHandler((error: Error & {statusCode?: number}, request, reply) => {
    const status = statusOf(error)
    if (status >= 500) options.log.warn(`${request.method} ${request.url} -> ${status}: ${errorMessage(error)}`)
    const hint = error instanceof DbrokerError ? (error as DbrokerError).hint : undefined
    return reply.code(status).send({error: error.name, message: errorMessage(error), ...(hint ? {hint} : {})})
  })
  app.get('/healthz', async () => {
    options.onProbed?.()
    return {status: 'ok'}
  })
  guardLogins(app, {log: options.log})

  void app.register(
    async (scope) => {
      scope.addHook('onRequest', async (request, reply) => {
        if (!authorized(request.headers.authorization))
          return reply
            .code(401)
            .send({error: 'Unauthorized', message: "the brokers' credential for this host is required"})
      })
      scope.get('/facts', () => agent.facts())
      scope.get('/containers', () => agent.list())
      scope.put<{Params: {id: string}}>('/containers/:id', async (request, reply) => {
        const parsed = specSchema.safeParse(request.body)
        if (!parsed.success)
          throw new DbrokerError(
            `invalid container spec: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          )
        // The body as sent, not zod's output: that reorders keys, and the spec hash depends on their order.
        const spec = request.body as ContainerSpec
        if (spec.instanceId !== request.params.id)
          throw new DbrokerError(`the spec is for instance ${spec.instanceId}, not ${request.params.id}`)
        touched(spec.instanceId)
        const abort = new AbortController()
        reply.raw.on('close', () => {
          if (!reply.raw.writableEnded) abort.abort(new Error('the broker hung up'))
        })
        return agent.apply(spec, {signal: abort.signal})
      })
      scope.delete<{Params: {id: string}; Querystring: {keepData?: string}}>(
        '/containers/:id',
        async (request, reply) => {
          touched(request.params.id)
          await agent.remove(request.params.id, {keepData: request.query.keepData === 'true'})
          return reply.code(204).send()
        },
      )
      scope.post<{Params: {id: string}}>('/containers/:id/exec', async (request) => {
        const parsed = execSchema.safeParse(request.body)
        if (!parsed.success) throw new DbrokerError('exec wants {"command": [...], "env": {...}}')
        return agent.exec(request.params.id, parsed.data.command, parsed.data.env)
      })
      scope.post<{Params: {id: string}}>('/containers/:id/restart', async (request, reply) => {
        touched(request.params.id)
        await agent.restart(request.params.id)
        return reply.code(204).send()
      })
      scope.get<{Params: {id: string}}>('/containers/:id/stats', async (request) => {
        if (!agent.stats) throw new DbrokerError('this agent cannot read stats')
        return {stats: (await agent.stats(request.params.id)) ?? null}
      })
      scope.get<{
        Params: {id: string}
        Querystring: {tail?: string; since?: string; follow?: string; timestamps?: string}
      }>('/containers/:id/logs', async (request, reply) => {
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
