import {ConvergenceLoop} from '../../src/agent/convergence-loop.js'
import {GuardedAgent} from '../../src/agent/guarded-agent.js'
import type {Registration} from '../../src/agent/heartbeat.js'
import type {AgentClient, ExecResult} from '../../src/core/agent.js'
import {parseCatalog} from '../../src/catalog/index.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../../src/core/types.js'
import {specHash} from '../../src/docker/engine.js'

export const KV = {service_id: '11111111-1111-4111-8111-111111111111', plan_id: '22222222-2222-4222-8222-222222222222'}

/** A one-plan catalog whose bindings get their own users through hooks; polling limit of one second by default. */
export const kvCatalog = (maximumPollingSeconds = 1) =>
  parseCatalog(
    `services:
  - id: ${KV.service_id}
    name: kv
    description: a key-value store
    bindable: true
    plan_updateable: true
    plans:
      - id: ${KV.plan_id}
        name: small
        description: small
        maximum_polling_duration: ${maximumPollingSeconds}
        schemas:
          service_instance:
            update:
              parameters:
                $schema: http://json-schema.org/draft-07/schema#
                type: object
                properties: {policy: {type: string}}
        container:
          image: example/kv:1
          ports: [6379]
          credentials: {username: default, env: {password: KV_PASSWORD}}
          binding_credentials: per-binding
          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}
          parameters: {policy: KV_POLICY}
          uri: kv://{username}:{password}@{host}:{port}
`,
    'kv-catalog.yml',
  )

export interface AgentCall {
  method: string
  instanceId: string
  command?: string[]
  env?: Record<string, string>
}

/** An agent without Docker: it records what it is asked, and runs what it was applied. */
export class FakeAgent implements AgentClient {
  calls: AgentCall[] = []
  readonly running = new Map<string, ContainerSpec>()
  /** Runs inside each exec, before it answers: a test's way to change the world mid-hook. */
  onExec?: (call: AgentCall) => Promise<void>

  async apply(spec: ContainerSpec): Promise<ContainerState> {
    this.calls.push({method: 'apply', instanceId: spec.instanceId})
    this.running.set(spec.instanceId, spec)
    return this.stateOf(spec)
  }

  private stateOf(spec: ContainerSpec): ContainerState {
    return {
      instanceId: spec.instanceId,
      containerId: `c-${spec.instanceId}`,
      name: spec.name,
      image: spec.image,
      status: 'running',
      health: 'none',
      restartCount: 0,
      specHash: specHash(spec),
    }
  }

  async remove(instanceId: string): Promise<void> {
    this.calls.push({method: 'remove', instanceId})
    this.running.delete(instanceId)
  }

  async exec(instanceId: string, command: string[], env: Record<string, string>): Promise<ExecResult> {
    const call = {method: 'exec', instanceId, command, env}
    this.calls.push(call)
    if (!this.running.has(instanceId)) throw new Error(`instance ${instanceId} has no running container`)
    await this.onExec?.(call)
    return {exitCode: 0, output: ''}
  }

  async restart(): Promise<void> {}

  async list(): Promise<ContainerState[]> {
    return [...this.running.values()].map((spec) => this.stateOf(spec))
  }

  async facts(): Promise<HostFacts> {
    return {
      engineVersion: 'test',
      cpus: 1,
      memoryBytes: 1,
      containersRunning: this.running.size,
      registryMirrors: [],
      insecureRegistries: [],
      loggingDriver: 'json-file',
    }
  }

  /** The calls made after `mark` (an earlier `calls.length`). */
  since(mark: number): AgentCall[] {
    return this.calls.slice(mark)
  }
}

/** What an agent for host `id` on this machine registers with, beating every `keepaliveMs`. */
export const testRegistration = (id: string, keepaliveMs: number, agentUrl = 'http://127.0.0.1:9'): Registration => ({
  id,
  agentUrl,
  serviceAddress: '127.0.0.1',
  bindAddress: '127.0.0.1',
  portRange: [40000, 40010],
  zone: null,
  labels: {},
  capacity: {maxContainers: null, memoryBytes: null},
  keepaliveMs,
})

/** What `startHeartbeats` wants for an engine-side agent: it behind the agent's guard, and a convergence loop over it. */
export function guarded(engine: AgentClient): {agent: GuardedAgent; loop: ConvergenceLoop} {
  const agent = new GuardedAgent(engine)
  return {agent, loop: new ConvergenceLoop({agent, log: createLogger('silent')})}
}

/** A minimal container spec (no ports, no readiness probe); `extra` overrides. */
export const containerSpec = (instanceId: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  instanceId,
  name: instanceId,
  image: 'x',
  env: {},
  ports: [],
  bindAddress: '127.0.0.1',
  volumes: [],
  restart: 'no',
  labels: {},
  readiness: {probe: 'none', timeoutMs: 0},
  hooks: {},
  ...extra,
})
