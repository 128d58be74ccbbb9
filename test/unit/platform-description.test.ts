import {describe, expect, it} from 'vitest'

import {buildBrokerApp} from '../../src/broker/app.js'
import {platformDescription} from '../../src/broker/lifecycle/platform-description.js'
import {createLogger} from '../../src/core/log.js'
import {EngineError} from '../../src/core/errors.js'
import type {ContainerSpec, ContainerState} from '../../src/core/types.js'
import {FakeAgent, KV, kvCatalog} from '../helpers/fake-agent.js'
import {fakeLifecycle} from '../helpers/lifecycle.js'
import {until} from '../helpers/until.js'

const CONTAINER_ID = '3f2a9c0d1e4b5a6978c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3'
/** What the agent makes of the engine failing to start a container (runc's words, the container's id). */
const ENGINE_FAILURE = `cannot start container dbroker-a1b2c3d4e5f6-i1: failed to create task for container ${CONTAINER_ID}: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error setting cgroup config for procHooks process: openat2 /sys/fs/cgroup/system.slice/docker-${CONTAINER_ID}.scope/memory.max: no such file or directory`

/** A host whose engine refuses to start containers. */
class RefusingAgent extends FakeAgent {
  constructor(private readonly failure: () => Error) {
    super()
  }
  override async apply(spec: ContainerSpec): Promise<ContainerState> {
    this.calls.push({method: 'apply', instanceId: spec.instanceId})
    throw this.failure()
  }
}

const credentials = {username: 'broker', password: 'broker-password-0123456789'}
const headers = {
  authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
  'x-broker-api-version': '2.17',
}

async function brokerOver(failure: () => Error) {
  const lines: string[] = []
  const log = createLogger('info', (line) => lines.push(line))
  const catalog = kvCatalog()
  const {store, provisioner} = await fakeLifecycle(new RefusingAgent(failure), catalog, log)
  const app = buildBrokerApp({catalog, provisioner, credentials, log, health: async () => {}})
  const close = async () => {
    await app.close()
    await store.close()
  }
  return {app, lines, close, provisioner}
}

const body = {...KV, organization_guid: 'o', space_guid: 's'}

describe('a failure in the host engine, as the platform is told of it', () => {
  for (const [what, failure] of [
    ["the agent's words around the engine's", () => new EngineError(ENGINE_FAILURE)],
    [
      "dockerode's own error",
      () => new Error('(HTTP code 500) server error - Cannot start container: OCI runtime create failed'),
    ],
  ] as const) {
    it(`${what}: a plain description naming the operation; the engine's text only in the broker log`, async () => {
      const t = await brokerOver(failure)
      try {
        const sync = await t.app.inject({method: 'PUT', url: '/v2/service_instances/i1', headers, payload: body})
        expect(sync.statusCode).toBe(500)
        const description = sync.json().description as string
        expect(description).toMatch(
          /^provision failed: the host could not start the container; see the broker log, operation provision-[0-9a-f-]{36}$/,
        )
        const operation = /operation (\S+)$/.exec(description)![1]
        expect(description).not.toMatch(/HTTP code|server error|OCI runtime|cgroup|dbroker-a1b2|[0-9a-f]{64}/)
        // The operator finds the engine's words under that operation in the broker's log.
        expect(t.lines.some((l) => l.includes(operation) && l.includes(failure().message))).toBe(true)

        const started = await t.app.inject({
          method: 'PUT',
          url: '/v2/service_instances/i2?accepts_incomplete=true',
          headers,
          payload: body,
        })
        expect(started.statusCode).toBe(202)
        const last = await until('the provision to fail', async () => {
          const r = await t.app.inject({
            method: 'GET',
            url: `/v2/service_instances/i2/last_operation?operation=${started.json().operation}`,
            headers,
          })
          const answer = r.json<{state: string; description: string}>()
          return answer.state === 'failed' ? answer : undefined
        })
        expect(last.description).toBe(
          `provision failed: the host could not start the container; see the broker log, operation ${started.json().operation}`,
        )
      } finally {
        await t.close()
      }
    })
  }

  it('an engine error outside any operation: the request id in the answer, the engine text in the log only', async () => {
    const t = await brokerOver(() => new Error('unused'))
    try {
      t.provisioner.fetchInstance = async () => {
        throw new EngineError(`(HTTP code 500) server error - container ${CONTAINER_ID} is restarting`)
      }
      const answer = await t.app.inject({method: 'GET', url: '/v2/service_instances/i1', headers})
      expect(answer.statusCode).toBe(502)
      const description = answer.json().description as string
      expect(description).toMatch(/^the host's engine failed; see the broker log, request \S+$/)
      const request = /request (\S+)$/.exec(description)![1]
      expect(t.lines.some((l) => l.includes(`request ${request}`) && l.includes(CONTAINER_ID))).toBe(true)
    } finally {
      await t.close()
    }
  })

  it("leaves the broker's own words alone, and says which image could not be had without the engine's", () => {
    const own = 'provision failed: the container exited with code 1 before it was ready; its last lines: oops'
    expect(platformDescription('provision', 'op-1', own)).toBe(own)
    expect(
      platformDescription(
        'provision',
        'op-2',
        'provision failed: image example/kv:1 is not on the engine and could not be made (pull: (HTTP code 404) unexpected - pull access denied for example/kv)',
      ),
    ).toBe(
      'provision failed: image example/kv:1 is not on the engine and could not be made; see the broker log, operation op-2',
    )
    expect(platformDescription('update', 'op-3', `update failed: ${ENGINE_FAILURE}; the instance runs as before`)).toBe(
      'update failed: the host could not start the container; the instance runs as before; see the broker log, operation op-3',
    )
    const unreachable = `provision failed: host h1 is unreachable from the broker (broker -> agent): the call to host h1's agent was cancelled: container ${CONTAINER_ID}`
    expect(platformDescription('provision', 'op-5', unreachable)).toBe(unreachable)
    // A logging driver the host's engine can't use is the operator's to fix: the reason stays, the ids go.
    expect(
      platformDescription(
        'provision',
        'op-6',
        `provision failed: cannot start container dbroker-x-i1: (HTTP code 500) server error - failed to create task for container ${CONTAINER_ID}: failed to initialize logging driver: journald is not enabled on this host`,
      ),
    ).toBe(
      "provision failed: the host could not start the container with the plan's logging driver (journald is not enabled on this host); see the broker log, operation op-6",
    )
    // The broker's own sentence quoting the engine in parentheses keeps its words and its advice, not the quote.
    expect(
      platformDescription(
        'provision',
        'op-7',
        'provision failed: registry r.example:5000 refused the login of user puller to pull r.example:5000/kv:1 (Error response from daemon: Get "https://r.example:5000/v2/": unauthorized): check the password and log in again with `dbroker registry login r.example:5000`',
      ),
    ).toBe(
      'provision failed: registry r.example:5000 refused the login of user puller to pull r.example:5000/kv:1: check the password and log in again with `dbroker registry login r.example:5000`; see the broker log, operation op-7',
    )
    expect(platformDescription('deprovision', 'op-4', '(HTTP code 409) conflict - removal in progress')).toBe(
      'deprovision failed: the host could not remove the container; see the broker log, operation op-4',
    )
  })
})
