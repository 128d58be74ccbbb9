import type {ContainerStats, LogOptions} from '../core/admin.js'
import type {AgentClient, ApplyOptions, ExecResult} from '../core/agent.js'
import {EngineError} from '../core/errors.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../core/types.js'
import {
  containerLogs,
  containerLogsTail,
  containerStats,
  createOptions,
  type Engine,
  engineFacts,
  ensureImage,
  execIn,
  inspectContainer,
  LABEL_INSTANCE,
  LABEL_SPEC,
  labelledContainers,
  removeContainer,
  removeVolumes,
  specHash,
  stateOf,
} from '../docker/engine.js'
import {waitReady} from './readiness.js'

export interface DockerAgentOptions {
  /** Where the agent reaches published ports (the bind address, or loopback for 0.0.0.0). */
  probeAddress?: string
}

/**
 * The agent's side of `AgentClient` over one Docker engine. Calls for the same
 * instance run one after another, so a converge pass never races a provision.
 */
export class DockerAgent implements AgentClient {
  private readonly queues = new Map<string, Promise<unknown>>()
  private readonly images = new Map<string, Promise<unknown>>()

  constructor(
    readonly engine: Engine,
    private readonly options: DockerAgentOptions = {},
  ) {}

  private serial<T>(instanceId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(instanceId) ?? Promise.resolve()
    const next = previous.then(work, work)
    const settled = next.catch(() => undefined)
    this.queues.set(instanceId, settled)
    void settled.then(() => {
      if (this.queues.get(instanceId) === settled) this.queues.delete(instanceId)
    })
    return next
  }

  private ensureImage(spec: ContainerSpec, onProgress?: (line: string) => void): Promise<unknown> {
    let pending = this.images.get(spec.image)
    if (!pending) {
      pending = ensureImage(this.engine, spec.image, spec.build, onProgress).finally(() => this.images.delete(spec.image))
      this.images.set(spec.image, pending)
    }
    return pending
  }

  apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    return this.serial(spec.instanceId, async () => {
      if (options.stillWanted && !(await options.stillWanted())) {
        return {instanceId: spec.instanceId, containerId: '', name: spec.name, image: spec.image, status: 'missing', health: 'none', restartCount: 0}
      }
      await this.ensureImage(spec, options.onProgress)
      let info = await inspectContainer(this.engine, spec.name)
      if (info && info.Config.Labels?.[LABEL_INSTANCE] !== spec.instanceId) {
        throw new EngineError(`a container named ${spec.name} exists that dbroker did not create for this instance; it is left alone`)
      }
      if (info && info.Config.Labels?.[LABEL_SPEC] !== specHash(spec)) {
        options.onProgress?.(`recreating ${spec.name}: its spec changed`)
        await removeContainer(this.engine, info.Id, 10)
        info = undefined
      }
      let created = false
      if (!info) {
        const container = await this.engine.createContainer(createOptions(spec)).catch((error: Error) => {
          throw new EngineError(`cannot create container ${spec.name}: ${engineMessage(error)}`)
        })
        info = await container.inspect()
        created = true
      }
      const id = info.Id
      try {
        if (!info.State.Running) {
          await this.engine.getContainer(id).start().catch((error: {statusCode?: number; message: string}) => {
            if (error.statusCode !== 304) throw new EngineError(`cannot start container ${spec.name}: ${engineMessage(error)}`)
          })
        }
        await waitReady({
          spec,
          address: this.probeAddress(spec),
          signal: options.signal,
          exec: (command) => execIn(this.engine, id, command),
          check: async () => {
            const now = await this.engine.getContainer(id).inspect()
            if (!now.State.Running && !now.State.Restarting) {
              const tail = redact(await containerLogsTail(this.engine, id, 5).catch(() => ''), spec)
              throw new EngineError(`container ${spec.name} exited with code ${now.State.ExitCode} before it was ready${tail ? `; last output:\n${tail.trim()}` : ''}`)
            }
            return {health: now.State.Health?.Status ?? 'none'}
          },
        })
      } catch (error) {
        if (created) await removeContainer(this.engine, id).catch(() => undefined)
        throw error
      }
      return stateOf(await this.engine.getContainer(id).inspect())
    })
  }

  private probeAddress(spec: ContainerSpec): string {
    if (this.options.probeAddress) return this.options.probeAddress
    return spec.bindAddress === '0.0.0.0' || spec.bindAddress === '' ? '127.0.0.1' : spec.bindAddress
  }

  remove(instanceId: string, options: {keepData?: boolean} = {}): Promise<void> {
    return this.serial(instanceId, async () => {
      const containers = await labelledContainers(this.engine, instanceId)
      const volumes = new Set<string>()
      for (const c of containers) {
        for (const m of c.Mounts ?? []) if (m.Type === 'volume' && m.Name) volumes.add(m.Name)
        await removeContainer(this.engine, c.Id)
      }
      if (!options.keepData) await removeVolumes(this.engine, instanceId, [...volumes])
    })
  }

  private async running(instanceId: string): Promise<string> {
    const [container] = (await labelledContainers(this.engine, instanceId)).filter((c) => c.State === 'running')
    if (!container) throw new EngineError(`instance ${instanceId} has no running container`)
    return container.Id
  }

  async exec(instanceId: string, command: string[], env: Record<string, string>): Promise<ExecResult> {
    return execIn(this.engine, await this.running(instanceId), command, env)
  }

  async restart(instanceId: string): Promise<void> {
    const [container] = await labelledContainers(this.engine, instanceId)
    if (!container) throw new EngineError(`instance ${instanceId} has no container`)
    await this.engine.getContainer(container.Id).restart({t: 10})
  }

  async list(): Promise<ContainerState[]> {
    const containers = await labelledContainers(this.engine)
    const states = await Promise.all(containers.map((c) => inspectContainer(this.engine, c.Id)))
    return states.filter((s) => s !== undefined).map(stateOf)
  }

  facts(): Promise<HostFacts> {
    return engineFacts(this.engine)
  }

  async stats(instanceId: string): Promise<ContainerStats | undefined> {
    const [container] = (await labelledContainers(this.engine, instanceId)).filter((c) => c.State === 'running')
    return container && containerStats(this.engine, container.Id)
  }

  async logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    const [container] = await labelledContainers(this.engine, instanceId)
    if (!container) throw new EngineError(`instance ${instanceId} has no container`)
    return containerLogs(this.engine, container.Id, options)
  }
}

function engineMessage(error: {message: string; json?: {message?: string}}): string {
  return (error.json?.message ?? error.message).replace(/^\(HTTP code \d+\)[^-]*- /, '').trim()
}

/** Hides secret values of the spec's environment in text shown to users. */
export function redact(text: string, spec: ContainerSpec): string {
  let out = text
  // By name where the name says secret; any long value too, since a catalog may call its password anything.
  for (const [key, value] of Object.entries(spec.env)) {
    if ((/PASS|PWD|SECRET|TOKEN|KEY|AUTH|CRED/i.test(key) && value.length >= 6) || value.length >= 16) out = out.split(value).join('********')
  }
  return out
}
