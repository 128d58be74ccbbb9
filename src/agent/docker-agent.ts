// Over 300 lines: apply (image, networks, disk, create, start, readiness, predecessor) is one guarded sequence per instance.
import type {ContainerStats, LogOptions} from '../core/admin.js'
import type {AgentClient, ApplyOptions, ExecOptions, ExecResult, RestartOptions} from '../core/agent.js'
import {EngineError, errorMessage} from '../core/errors.js'
import type {ContainerSpec, ContainerState, HostFacts} from '../core/types.js'
import {
  createOptions,
  type Engine,
  engineFacts,
  ensureImage,
  execIn,
  inspectContainer,
  LABEL_INSTALLATION,
  LABEL_SPEC,
  madeFrom,
  missingOnEngine,
  removeContainer,
  stateOf,
} from '../docker/engine.js'
import {networkName} from '../docker/container-options.js'
import {containerLogsTail} from '../docker/logs.js'
import type {RegistryLoginLookup} from '../docker/registry-pull.js'
import {
  checkVolumes,
  ensureGroupNetwork,
  ensureNetwork,
  foreignOwner,
  releaseGroupNetwork,
  releaseNetwork,
  removeVolumes,
} from '../docker/ownership.js'
import {parseDeploymentKey} from '../manifest/specs.js'
import {ContainerReads} from './container-reads.js'
import {diskFor, type InstanceDisks} from './instance-disks.js'
import type {EngineControl} from './managed-engine.js'
import {InstanceQueue} from './instance-queue.js'
import {waitReady} from './readiness.js'

export interface DockerAgentOptions {
  /** Where the agent reaches published ports (the bind address, or loopback for 0.0.0.0). */
  probeAddress?: string
  /** The installation whose containers this agent runs; a remote agent learns it from the broker's answer. */
  installation?: string
  /** Where a spec's `disk` goes on this host; without it a spec with a disk is refused. */
  disks?: InstanceDisks
  /** Whether the agent keeps the engine (restarts it, writes its registry settings): part of the host facts. */
  engineControl?: EngineControl
  /** The login for an image's registry, asked for only when the image must be pulled. */
  registryLogin?: RegistryLoginLookup
}

/**
 * The agent's side of `AgentClient` over one Docker engine. Calls for the same
 * instance run one after another, so a converge pass never races a provision.
 * It sees and touches only its installation's containers and volumes.
 */
export class DockerAgent implements AgentClient {
  private readonly queue = new InstanceQueue()
  private readonly images = new Map<string, Promise<unknown>>()
  private installation: string | undefined
  /** Containers from before installation labels that could not be made again confined, by instance: run on as they were, not tried again each beat. */
  private readonly keptAsTheyWere = new Map<string, string>()
  private readonly reads: ContainerReads
  /** The network check in flight: parallel applies share it, so they never make the network twice. */
  private network: Promise<string> | undefined
  /** Images and the network this agent saw in place: later applies skip looking (a create that misses one looks again). */
  private readonly imagesSeen = new Set<string>()
  private networkSeen = false
  /** Groups' networks (a deployment's on this host) this agent saw in place. */
  private readonly groupNetworksSeen = new Set<string>()
  private readonly groupNetworks = new Map<string, Promise<string>>()

  constructor(
    readonly engine: Engine,
    private readonly options: DockerAgentOptions = {},
  ) {
    this.installation = options.installation
    this.reads = new ContainerReads(
      engine,
      () => this.installation,
      () => this.own(),
      this.keptAsTheyWere,
    )
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
    this.networkSeen = false
    if (this.installation) await releaseNetwork(this.engine, this.installation)
  }

  private async ensureNetwork(installation: string): Promise<void> {
    if (this.networkSeen) return
    this.network ??= ensureNetwork(this.engine, installation).finally(() => {
      this.network = undefined
    })
    await this.network
    this.networkSeen = true
  }

  private async ensureGroupNetwork(installation: string, spec: ContainerSpec): Promise<void> {
    const group = spec.network?.name
    if (!group || this.groupNetworksSeen.has(group)) return
    // Shared by parallel applies: the engine's duplicate check is not atomic, and two of one name are ambiguous.
    let pending = this.groupNetworks.get(group)
    if (!pending) {
      pending = ensureGroupNetwork(this.engine, installation, group).finally(() => this.groupNetworks.delete(group))
      this.groupNetworks.set(group, pending)
    }
    await pending
    this.groupNetworksSeen.add(group)
  }

  private own(): string {
    if (!this.installation)
      throw new EngineError(
        'this agent does not know its installation yet: it acts once a broker answered its heartbeat',
      )
    return this.installation
  }

  private async ensureImage(spec: ContainerSpec, onProgress?: (line: string) => void): Promise<void> {
    if (this.imagesSeen.has(spec.image)) return
    let pending = this.images.get(spec.image)
    if (!pending) {
      pending = ensureImage(this.engine, spec.image, spec.build, onProgress, this.options.registryLogin).finally(() =>
        this.images.delete(spec.image),
      )
      this.images.set(spec.image, pending)
    }
    await pending
    this.imagesSeen.add(spec.image)
  }

  /** Runs a create or start; when the image or network it needs went since this agent saw them, makes them and runs it again. */
  private async withPrerequisites<T>(
    spec: ContainerSpec,
    installation: string,
    onProgress: ((line: string) => void) | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      return await call()
    } catch (error) {
      const missing = missingOnEngine(error)
      if (missing === 'image') {
        this.imagesSeen.delete(spec.image)
        await this.ensureImage(spec, onProgress)
      } else if (missing === 'network') {
        this.networkSeen = false
        if (spec.network) this.groupNetworksSeen.delete(spec.network.name)
        await this.ensureNetwork(installation)
        await this.ensureGroupNetwork(installation, spec)
      } else throw error
      return call()
    }
  }

  apply(spec: ContainerSpec, options: ApplyOptions = {}): Promise<ContainerState> {
    return this.queue.run(spec.instanceId, async () => {
      const installation = this.own()
      await this.ensureImage(spec, options.onProgress)
      await this.ensureNetwork(installation)
      await this.ensureGroupNetwork(installation, spec)
      let info = await inspectContainer(this.engine, spec.name)
      // Before anything is stopped or made: a volume of another instance or installation is never mounted.
      await checkVolumes(
        this.engine,
        spec.name,
        spec.volumes.map((v) => v.name),
        spec.instanceId,
        installation,
        info ?? null,
      )
      const withDisk = await diskFor(this.options.disks, spec, installation, this.probeAddress(spec))
      // A disk resize stops and starts the container: look again at what it left.
      if (spec.disk) info = await inspectContainer(this.engine, spec.name)
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
          const container = await this.withPrerequisites(spec, installation, options.onProgress, () =>
            this.engine.createContainer(withDisk(createOptions(spec, installation))),
          ).catch((error: Error) => {
            throw new EngineError(`cannot create container ${spec.name}: ${engineMessage(error)}`)
          })
          created = container.id
        }
        const id = info?.Id ?? created!
        if (!info?.State.Running) {
          await this.withPrerequisites(spec, installation, options.onProgress, () =>
            this.engine.getContainer(id).start(),
          ).catch((error: {statusCode?: number; message: string}) => {
            if (error.statusCode !== 304)
              throw new EngineError(`cannot start container ${spec.name}: ${engineMessage(error)}`)
          })
        }
        await this.untilReady(id, spec, options.signal, options.failing)
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
      return stateOf(await this.engine.getContainer(info?.Id ?? created!).inspect())
    })
  }

  /**
   * Resolves once the spec's container is ready by its probe (a one-shot: once it ended with 0), whoever
   * started it: the supervisor waits so for a dependency the engine's restart policy brought back.
   */
  async ready(spec: ContainerSpec, options: {signal?: AbortSignal} = {}): Promise<void> {
    const id = await this.reads.container(spec.instanceId)
    await this.untilReady(id, spec, options.signal)
  }

  private untilReady(id: string, spec: ContainerSpec, signal?: AbortSignal, failing?: () => boolean): Promise<void> {
    const stopped = (ran: {State: {ExitCode: number}; RestartCount?: number}, what: string) =>
      this.stoppedError(id, spec, `${what} with code ${ran.State.ExitCode}`)
    return waitReady({
      spec,
      address: this.probeAddress(spec),
      signal,
      exec: (command) => execIn(this.engine, id, command),
      check: async () => {
        const now = await this.engine.getContainer(id).inspect()
        const ended = !now.State.Running && !now.State.Restarting
        if (ended && spec.restart === 'no' && now.State.ExitCode === 0 && now.State.FinishedAt)
          return {health: 'none', done: true}
        if (ended) throw await stopped(now, 'exited')
        if (failing?.()) throw await stopped(now, `keeps failing (${now.RestartCount} restarts); it last exited`)
        return {
          health: now.State.Health?.Status ?? 'none',
          startedAt: Date.parse(now.State.StartedAt),
          running: now.State.Running && !now.State.Restarting,
        }
      },
    })
  }

  /** Why a container is not ready: how it ended, with its last log lines, the spec's secrets blanked. */
  private async stoppedError(id: string, spec: ContainerSpec, how: string): Promise<EngineError> {
    const tail = redact(await containerLogsTail(this.engine, id, 5).catch(() => ''), spec)
    return new EngineError(
      `container ${spec.name} ${how} before it was ready${tail ? `; last output:\n${tail.trim()}` : ''}`,
    )
  }

  private probeAddress(spec: ContainerSpec): string {
    if (this.options.probeAddress) return this.options.probeAddress
    return spec.bindAddress === '0.0.0.0' || spec.bindAddress === '' ? '127.0.0.1' : spec.bindAddress
  }

  remove(instanceId: string, options: {keepData?: boolean} = {}): Promise<void> {
    return this.queue.run(instanceId, async () => {
      const installation = this.own()
      const containers = await this.reads.instanceContainers(instanceId)
      const volumes = new Set<string>()
      const groups = new Set<string>()
      for (const c of containers) {
        for (const m of c.Mounts ?? []) if (m.Type === 'volume' && m.Name) volumes.add(m.Name)
        for (const network of Object.keys(c.NetworkSettings?.Networks ?? {}))
          if (network.startsWith(`${networkName(installation)}.`))
            groups.add(network.slice(networkName(installation).length + 1))
        await removeContainer(this.engine, c.Id, undefined, !options.keepData)
      }
      // A deployment's network also when its container was never made (a create that failed after the network).
      const deployed = parseDeploymentKey(instanceId)
      if (deployed) groups.add(deployed.deployment)
      // A group's network goes with its last container (the engine refuses while others use it).
      for (const group of groups) {
        this.groupNetworksSeen.delete(group)
        await releaseGroupNetwork(this.engine, installation, group)
      }
      this.keptAsTheyWere.delete(instanceId)
      if (options.keepData) return
      await this.options.disks?.remove(installation, instanceId)
      const refused = await removeVolumes(this.engine, installation, instanceId, [...volumes])
      if (refused.length > 0)
        throw new EngineError(
          `removed the container of instance ${instanceId} but left alone volume ${refused.join(', ')}`,
        )
    })
  }

  async exec(
    instanceId: string,
    command: string[],
    env: Record<string, string>,
    options?: ExecOptions,
  ): Promise<ExecResult> {
    return this.reads.exec(instanceId, command, env, options)
  }

  async restart(instanceId: string, options: RestartOptions = {}): Promise<void> {
    const id = await this.reads.container(instanceId)
    if (options.after?.length && (await this.reads.startedSinceAll(id, options.after))) return
    await this.engine.getContainer(id).restart({t: options.stopTimeoutSeconds ?? 10})
  }

  async stop(instanceId: string): Promise<void> {
    const id = await this.reads.container(instanceId)
    await this.engine
      .getContainer(id)
      .stop({t: 10})
      .catch((error: {statusCode?: number}) => {
        if (error.statusCode !== 304) throw error
      })
  }

  /** This installation's containers; with `legacy`, also those from before installation labels (anyone's), marked. */
  list(options: {legacy?: boolean} = {}): Promise<ContainerState[]> {
    return this.reads.list(options)
  }

  async facts(): Promise<HostFacts> {
    return {...(await engineFacts(this.engine)), ...this.options.disks?.facts(), ...this.options.engineControl?.facts()}
  }

  inspect(instanceId: string): Promise<ContainerState | undefined> {
    return this.reads.inspect(instanceId)
  }

  stats(instanceId: string): Promise<ContainerStats | undefined> {
    return this.reads.stats(instanceId)
  }

  logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    return this.reads.logs(instanceId, options)
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
