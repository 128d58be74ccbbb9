import type {FastifyInstance} from 'fastify'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildAgentApi} from '../../src/agent/api.js'
import {buildBrokerApp} from '../../src/broker/app.js'
import type {Provisioner} from '../../src/broker/lifecycle/index.js'
import {loadCatalog} from '../../src/catalog/index.js'
import {AgentUnreachableError, HttpAgentClient} from '../../src/client/agent-http.js'
import {errorFromAnswer, errorStatus} from '../../src/core/error-status.js'
import {DbrokerError, EngineError, LogsUnavailableError, UsageError} from '../../src/core/errors.js'
import {brokerCredential, hostTokenHash, newHostToken} from '../../src/core/host-identity.js'
import {silentLogger} from '../../src/core/log.js'
import type {ContainerSpec} from '../../src/core/types.js'
import {FakeAgent} from '../helpers/fake-agent.js'

describe('the error -> status table', () => {
  it('gives each class its status, a subclass its parent’s, and nothing to an error it does not know', () => {
    expect(errorStatus(new LogsUnavailableError('x'))?.status).toBe(501)
    expect(errorStatus(new EngineError('x'))?.status).toBe(502)
    expect(errorStatus(new AgentUnreachableError('h1', 'refused'))?.status).toBe(502)
    expect(errorStatus(new UsageError('x'))?.status).toBe(400)
    expect(errorStatus(new DbrokerError('x'))).toBeUndefined()
    expect(errorStatus(new Error('x'))).toBeUndefined()
  })

  it('makes the class back from an answer: by the name it sends, else by its status; older agents sent `message`', () => {
    const engine = errorFromAnswer(500, {error: 'EngineError', description: 'no engine', hint: 'start it'}, '?')
    expect(engine).toBeInstanceOf(EngineError)
    expect([engine.message, engine.hint]).toEqual(['no engine', 'start it'])
    expect(errorFromAnswer(501, '{"description":"syslog"}', '?')).toBeInstanceOf(LogsUnavailableError)
    expect(errorFromAnswer(400, {description: 'bad'}, '?')).toBeInstanceOf(UsageError)
    const old = errorFromAnswer(502, {error: 'EngineError', message: 'from an old agent'}, '?')
    expect([old instanceof EngineError, old.message]).toEqual([true, 'from an old agent'])
    const unknown = errorFromAnswer(500, 'not json', 'the agent answered 500')
    expect([unknown.constructor, unknown.message]).toEqual([DbrokerError, 'the agent answered 500'])
  })
})

class FailingAgent extends FakeAgent {
  override async restart(): Promise<void> {
    throw new EngineError('the engine is gone', 'start dockerd')
  }
  async logs(): Promise<AsyncIterable<string>> {
    throw new LogsUnavailableError('the syslog driver cannot be read', 'use json-file')
  }
}

describe('an error keeps its class from the agent, over HTTP, to the broker’s answer', () => {
  const token = newHostToken()
  let api: FastifyInstance
  let client: HttpAgentClient

  beforeAll(async () => {
    api = buildAgentApi({agent: new FailingAgent(), hostToken: token, log: silentLogger})
    const url = await api.listen({host: '127.0.0.1', port: 0})
    client = new HttpAgentClient('h1', url, {credential: async () => brokerCredential(hostTokenHash(token))})
  })
  afterAll(() => api.close())

  it('an engine failure is an EngineError with its hint, an unreadable log a LogsUnavailableError', async () => {
    const restart = await client.restart('i1').catch((error: unknown) => error)
    expect(restart).toBeInstanceOf(EngineError)
    expect(restart).toMatchObject({message: 'the engine is gone', hint: 'start dockerd'})
    const logs = await client.logs('i1', {}).catch((error: unknown) => error)
    expect(logs).toBeInstanceOf(LogsUnavailableError)
    expect(logs).toMatchObject({message: 'the syslog driver cannot be read', hint: 'use json-file'})
  })

  it('a spec the protocol refuses is a UsageError naming the field; nothing is applied', async () => {
    const bad = {instanceId: 'i1', name: 'x', image: ''} as unknown as ContainerSpec
    const error = await client.apply(bad).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect((error as Error).message).toMatch(/^image: Too small/)
  })

  it('the broker answers a known error with its status and class, and keeps 500 for what it does not know', async () => {
    const broker = buildBrokerApp({
      catalog: loadCatalog(),
      provisioner: {} as Provisioner,
      credentials: {username: 'u', password: 'p'},
      log: silentLogger,
      health: async () => undefined,
      plugins: [
        async (app) => {
          app.get('/admin/v1/engine', async () => client.restart('i1'))
          app.get('/admin/v1/unreachable', async () => {
            throw new AgentUnreachableError('h1', 'could not connect within 3000 ms')
          })
          app.get('/admin/v1/bug', async () => {
            throw new Error('a bug')
          })
        },
      ],
    })
    try {
      const engine = await broker.inject({method: 'GET', url: '/admin/v1/engine'})
      expect(engine.statusCode).toBe(502)
      expect(engine.json()).toEqual({error: 'EngineError', description: 'the engine is gone', hint: 'start dockerd'})
      // An agent out of reach is unavailable for now (503), naming the host and the direction, not a broken engine.
      const unreachable = await broker.inject({method: 'GET', url: '/admin/v1/unreachable'})
      expect(unreachable.statusCode).toBe(503)
      expect(unreachable.json().description).toBe(
        'host h1 is unreachable from the broker (broker -> agent): could not connect within 3000 ms',
      )
      // A body the route schema refuses is the OSB error body: a description, no error code.
      for (const [payload, description] of [
        ['[]', 'the request body must be a JSON object'],
        ['{"service_id":"s","plan_id":"p","organization_guid":"o"}', 'space_guid: space_guid is required'],
      ]) {
        const refused = await broker.inject({
          method: 'PUT',
          url: '/v2/service_instances/i1',
          headers: {
            'content-type': 'application/json',
            'x-broker-api-version': '2.17',
            authorization: `Basic ${Buffer.from('u:p').toString('base64')}`,
          },
          payload,
        })
        expect([refused.statusCode, refused.json()]).toEqual([400, {description}])
      }
      const bug = await broker.inject({method: 'GET', url: '/admin/v1/bug'})
      expect([bug.statusCode, bug.json()]).toEqual([500, {description: 'internal error: a bug'}])
    } finally {
      await broker.close()
    }
  })
})
