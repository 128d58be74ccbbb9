import type {FastifyInstance} from 'fastify'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildAgentApi} from '../../src/agent/api.js'
import {HttpAgentClient} from '../../src/client/agent-http.js'
import {brokerCredential, hostTokenHash, newHostToken} from '../../src/core/host-identity.js'
import {silentLogger} from '../../src/core/log.js'
import type {ContainerState} from '../../src/core/types.js'
import {FakeAgent} from '../helpers/fake-agent.js'

const ADOPTED: ContainerState = {
  instanceId: 'adopted:pg-main',
  containerId: 'c0ffee',
  name: 'pg-main',
  image: 'postgres:15',
  status: 'running',
  health: 'healthy',
  restartCount: 2,
}

/** An agent at the boundary that knows one adopted container by name, as the DockerAgent answers `adopted:<name>`. */
class AdoptingAgent extends FakeAgent {
  readonly asked: string[] = []
  async inspect(instanceId: string): Promise<ContainerState | undefined> {
    this.asked.push(instanceId)
    return instanceId === ADOPTED.instanceId ? ADOPTED : undefined
  }
}

describe("a remote host reports one container's state over the agent API (an adopted container's health)", () => {
  const token = newHostToken()
  const agent = new AdoptingAgent()
  let api: FastifyInstance
  let client: HttpAgentClient

  beforeAll(async () => {
    api = buildAgentApi({agent, hostToken: token, log: silentLogger})
    const url = await api.listen({host: '127.0.0.1', port: 0})
    client = new HttpAgentClient('h1', url, {credential: async () => brokerCredential(hostTokenHash(token))})
  })
  afterAll(() => api.close())

  it('answers the state the host has, and undefined for a container it has not', async () => {
    expect(await client.inspect('adopted:pg-main')).toEqual(ADOPTED)
    expect(await client.inspect('adopted:gone')).toBeUndefined()
    expect(agent.asked).toEqual(['adopted:pg-main', 'adopted:gone'])
  })
})
