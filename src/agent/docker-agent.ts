import type {ContainerStats, LogOptions} from '../core/admin.js'
import type {AgentClient, ApplyOptions, ExecResult} from '../core/agent.js'
import {EngineError, errorMessage} from '../core/errors.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../core/types.js'
import {
  containerStats,
  createOptions,
  type Engine,
  engineFacts,
  ensureImage,
  execIn,
  inspectContainer,
  LABEL_INSTALLATION,
  LABEL_SPEC,
  madeFrom,
  removeContainer,
  stateOf,
} from '../docker/engine.js'
import {containerLogs, containerLogsTail} from '../docker/logs.js'
import {
  checkVolumes,
  ensureNetwork,
  foreignOwner,
  legacyContainers,
  ownContainers,
  releaseNetwork,
  removeVolumes,
} from '../docker/ownership.js'
import {waitReady} from './readiness.js'

export interface DockerAgentOptions {
  /** Where the agent reaches published ports (the bind address, or loopback for 0.0.0.0). */
  probeAddress?: string
  /** The installation whose containers this agent runs; a remote agent learns it from the broker's answer. */
  installation?: string
}

/**
 * The agent's side of `AgentClient` over one Docker engine. Calls for the same
 * instance run one after another, so a converge pass never races a provision.
 * It sees and touches only its installation's containers and volumes.
 */
export class DockerAgent implements AgentClient {
  private readonly queues = new Map<string, Promise<unknown>>()
  private readonly images = new Map<string, Promise<unknown>>()
  private installation: string | undefined
  /** Containers from before installation labels that could not be made again confined, by instance: run on as they were, not tried again each beat. */
  private readonly keptAsTheyWere = new Map<string, string>()
  /** The network check in flight: parallel applies share it, so they never make the network twice. */
  private network: Promise<string> | undefined

  constructor(
    readonly engine: Engine,
    private readonly options: DockerAgentOptions = {},
  ) {
    this.installation = options.installation
  }

  /** The installation the broker says this host serves; undefined while no broker said. */
  get installationId(): string | undefined {
    return this.installation
  }

  useInstallation(id: string): void {
    this.installation = id
  }

  /** On shutdown: the installation's network goes once no container of it is left (`down --purge`). */
  async releaseNetwork(): Promise<void> {
    if (this.installation) await releaseNetwork(this.engine, this.installation)
  }

  private ensureNetwork(installation: string): Promise<string> {
    this.network ??= ensureNetwork(this.engine, installation).finally(() => {
      this.network = undefined
    })
    return this.network
  }

  private own(): string {
    if (!this.installation)
      throw new EngineError(
        'this agent does not know its installation yet: it acts once a broker answered its heartbeat',
      )
    return this.installation
  }

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
      pending = ensureImage(this.engine, spec.image, spec.build, onProgress).finally(() =>
        this.images.delete(spec.image),
      )
      this.images.set(spec.image, pending)
    }
    return pending
  }

  apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    return this.serial(spec.instanceId, async () => {
      if (options.stillWanted && !(await options.stillWanted())) {
        return {
          instanceId: spec.instanceId,
          containerId: '',
          name: spec.name,
          image: spec.image,
          status: 'missing',
          health: 'none',
          restartCount: 0,
        }
      }
      const installation = this.own()
      await this.ensureImage(spec, options.onProgress)
      await this.ensureNetwork(installation)
      // Before anything is stopped or made: a volume of another instance or installation is never mounted.
      await checkVolumes(
        this.engine,
        spec.name,
        spec.volumes.map((v) => v.name),
        spec.instanceId,
        installation,
      )
      let info = await inspectContainer(this.engine, spec.name)
      let predecessor: string | undefined
      if (info) {
        const foreign = foreignOwner(info.Config.Labels, spec.instanceId, installation)
        if (foreign) throw new EngineError(`a container named ${spec.name} exists and ${foreign}; it is left alone`)
        const kept =
          this.keptAsTheyWere.get(spec.instanceId) === info.Id && madeFrom(spec, info.Config.Labels?.[LABEL_SPEC])
        if (!info.Config.Labels?.[LABEL_INSTALLATION] && !kept) {
          // One from before installation labels is this instance's (its stored spec names it): made again, labelled and
          // confined; it waits aside, stopped, until the new one is ready, and comes back if that one fails.
          options.onProgress?.(`recreating ${spec.name}: it predates installation labels`)
          predecessor = info.Id
          await this.engine
            .getContainer(info.Id)
            .stop({t: 10})
            .catch((error: {statusCode?: number}) => {
              if (error.statusCode !== 304) throw error
            })
          await this.engine.getContainer(info.Id).rename({name: `${spec.name}-predecessor`})
          info = undefined
        } else if (!madeFrom(spec, info.Config.Labels[LABEL_SPEC])) {
          options.onProgress?.(`recreating ${spec.name}: its spec changed`)
          await removeContainer(this.engine, info.Id, 10)
          info = undefined
        }
      }
      let created: string | undefined
      try {
        if (!info) {
          const container = await this.engine
            .createContainer(createOptions(spec, installation))
            .catch((error: Error) => {
              throw new EngineError(`cannot create container ${spec.name}: ${engineMessage(error)}`)
            })
          info = await container.inspect()
          created = info.Id
        }
        const id = info.Id
        if (!info.State.Running) {
          await this.engine
            .getContainer(id)
            .start()
            .catch((error: {statusCode?: number; message: string}) => {
              if (error.statusCode !== 304)
                throw new EngineError(`cannot start container ${spec.name}: ${engineMessage(error)}`)
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
              throw new EngineError(
                `container ${spec.name} exited with code ${now.State.ExitCode} before it was ready${tail ? `; last output:\n${tail.trim()}` : ''}`,
              )
            }
            return {health: now.State.Health?.Status ?? 'none'}
          },
        })
      } catch (error) {
        if (created) await removeContainer(this.engine, created).catch(() => undefined)
        if (predecessor) {
          await this.engine.getContainer(predecessor).rename({name: spec.name})
          await this.engine.getContainer(predecessor).start()
          this.keptAsTheyWere.set(spec.instanceId, predecessor)
          throw new EngineError(
            `${spec.name} could not be made again confined, so the container from before runs on as it was: ${errorMessage(error)}`,
          )
        }
        throw error
      }
      if (predecessor) await removeContainer(this.engine, predecessor)
      if (created) this.keptAsTheyWere.delete(spec.instanceId)
      const id = info.Id
      return stateOf(await this.engine.getContainer(id).inspect())
    })
  }

  private probeAddress(spec: ContainerSpec): string {
    if (this.options.probeAddress) return this.options.probeAddress
    return spec.bindAddress === '0.0.0.0' || spec.bindAddress === '' ? '127.0.0.1' : spec.bindAddress
  }

  remove(instanceId: string, options: {keepData?: boolean} = {}): Promise<void> {
    return this.serial(instanceId, async () => {
      const installation = this.own()
      const containers = await this.instanceContainers(instanceId)
      const volumes = new Set<string>()
      for (const c of containers) {
        for (const m of c.Mounts ?? []) if (m.Type === 'volume' && m.Name) volumes.add(m.Name)
        await removeContainer(this.engine, c.Id, undefined, !options.keepData)
      }
      this.keptAsTheyWere.delete(instanceId)
      if (options.keepData) return
      const refused = await removeVolumes(this.engine, installation, instanceId, [...volumes])
      if (refused.length > 0)
        throw new EngineError(
          `removed the container of instance ${instanceId} but left alone volume ${refused.join(', ')}`,
        )
    })
  }

  /** This installation's containers of an instance, and the one from before kept as it was. */
  private async instanceContainers(
    instanceId: string,
  ): Promise<Array<{Id: string; State: string; Mounts?: Array<{Type?: string; Name?: string}>}>> {
    const own = await ownContainers(this.engine, this.own(), instanceId)
    const kept = this.keptAsTheyWere.get(instanceId)
    return kept ? [...own, ...(await legacyContainers(this.engine)).filter((c) => c.Id === kept)] : own
  }

  private async container(instanceId: string, running = false): Promise<string> {
    const containers = await this.instanceContainers(instanceId)
    const [container] = running ? containers.filter((c) => c.State === 'running') : containers
    if (!container) throw new EngineError(`instance ${instanceId} has no ${running ? 'running ' : ''}container`)
    return container.Id
  }

  async exec(instanceId: string, command: string[], env: Record<string, string>): Promise<ExecResult> {
    return execIn(this.engine, await this.container(instanceId, true), command, env)
  }

  async restart(instanceId: string): Promise<void> {
    await this.engine.getContainer(await this.container(instanceId)).restart({t: 10})
  }

  /** This installation's containers; with `legacy`, also those from before installation labels (anyone's), marked. */
  async list(options: {legacy?: boolean} = {}): Promise<ContainerState[]> {
    if (!this.installation) return []
    const [own, legacy] = await Promise.all([
      ownContainers(this.engine, this.installation),
      options.legacy || this.keptAsTheyWere.size > 0 ? legacyContainers(this.engine) : [],
    ])
    const kept = new Set(this.keptAsTheyWere.values())
    // Those kept as they were count as this installation's; other old ones only when asked for, marked.
    const listed = [
      ...own.map((c) => ({id: c.Id, legacy: false})),
      ...legacy.filter((c) => kept.has(c.Id) || options.legacy).map((c) => ({id: c.Id, legacy: !kept.has(c.Id)})),
    ]
    const states = await Promise.all(
      listed.map(async (c) => ({info: await inspectContainer(this.engine, c.id), legacy: c.legacy})),
    )
    return states.flatMap(({info, legacy}) => (info ? [legacy ? {...stateOf(info), legacy: true} : stateOf(info)] : []))
  }

  facts(): Promise<HostFacts> {
    return engineFacts(this.engine)
  }

  async stats(instanceId: string): Promise<ContainerStats | undefined> {
    if (!this.installation) return undefined
    const [container] = (await this.instanceContainers(instanceId)).filter((c) => c.State === 'running')
    return container && containerStats(this.engine, container.Id)
  }

  async logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    return containerLogs(this.engine, await this.container(instanceId), options)
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
    if ((/PASS|PWD|SECRET|TOKEN|KEY|AUTH|CRED/i.test(key) && value.length >= 6) || value.length >= 16)
      out = out.split(value).join('********')
  }
  return out
}
