import type Docker from 'dockerode'

import type {ContainerStats, LogOptions} from '../core/admin.js'
import {adoptedName, type ExecOptions, type ExecResult} from '../core/agent.js'
import {EngineError} from '../core/errors.js'
import type {ContainerState} from '../core/types.js'
import {LABEL_INSTANCE} from '../docker/container-options.js'
import {containerStats, type Engine, execIn, inspectContainer, stateOf} from '../docker/engine.js'
import {containerLogs} from '../docker/logs.js'
import {legacyContainers, ownContainers} from '../docker/ownership.js'

/**
 * The agent's look into its installation's containers: list, exec, stats and
 * logs. A container from before installation labels that was kept as it was
 * counts as its instance's.
 */
export class ContainerReads {
  constructor(
    private readonly engine: Engine,
    /** The installation, or undefined while no broker named it. */
    private readonly installation: () => string | undefined,
    /** The installation, or an error while no broker named it. */
    private readonly own: () => string,
    /** Containers from before installation labels kept as they were, by instance. */
    private readonly keptAsTheyWere: ReadonlyMap<string, string>,
  ) {}

  /** This installation's containers of an instance, and the one from before kept as it was. */
  async instanceContainers(instanceId: string): Promise<
    Array<{
      Id: string
      State: string
      Mounts?: Array<{Type?: string; Name?: string}>
      NetworkSettings?: {Networks?: Record<string, unknown>}
    }>
  > {
    const own = await ownContainers(this.engine, this.own(), instanceId)
    const kept = this.keptAsTheyWere.get(instanceId)
    return kept ? [...own, ...(await legacyContainers(this.engine)).filter((c) => c.Id === kept)] : own
  }

  async container(instanceId: string, running = false): Promise<string> {
    const adopted = await this.adopted(instanceId)
    if (adopted) {
      if (running && !adopted.State.Running) throw new EngineError(`container ${adoptedName(instanceId)} does not run`)
      return adopted.Id
    }
    const containers = await this.instanceContainers(instanceId)
    const [container] = running ? containers.filter((c) => c.State === 'running') : containers
    if (!container) throw new EngineError(`instance ${instanceId} has no ${running ? 'running ' : ''}container`)
    return container.Id
  }

  /**
   * The operator's container an `existing` plan adopted, by name (undefined for any other id). One that dbroker
   * made is not the operator's: it is refused, so an adopted name never reaches another instance's container.
   */
  private async adopted(id: string): Promise<Docker.ContainerInspectInfo | undefined> {
    const name = adoptedName(id)
    if (name === undefined) return undefined
    const info = await inspectContainer(this.engine, name)
    if (!info) throw new EngineError(`the adopted container ${name} does not exist on this host`)
    if (info.Config.Labels?.[LABEL_INSTANCE] !== undefined)
      throw new EngineError(`container ${name} is one dbroker made, not an adopted one; it is left alone`)
    return info
  }

  /** One container's state: an instance's own (its newest), or an adopted one's, with the id asked for. */
  async inspect(instanceId: string): Promise<ContainerState | undefined> {
    if (adoptedName(instanceId) !== undefined) {
      const info = await this.adopted(instanceId).catch(() => undefined)
      return info && {...stateOf(info), instanceId}
    }
    if (!this.installation()) return undefined
    const [container] = await this.instanceContainers(instanceId)
    const info = container && (await inspectContainer(this.engine, container.Id))
    return info && stateOf(info)
  }

  /** Whether the container runs since after every one of these instances' containers last started. */
  async startedSinceAll(id: string, dependencies: readonly string[]): Promise<boolean> {
    const startedAt = async (nameOrId: string) => {
      const info = await inspectContainer(this.engine, nameOrId)
      return info?.State.Running ? Date.parse(info.State.StartedAt) : undefined
    }
    const own = await startedAt(id)
    if (own === undefined) return false
    for (const dependency of dependencies) {
      const containers = await this.instanceContainers(dependency).catch(() => [])
      const theirs = containers[0] ? await startedAt(containers[0].Id) : undefined
      if (theirs === undefined || theirs >= own) return false
    }
    return true
  }

  async exec(
    instanceId: string,
    command: string[],
    env: Record<string, string>,
    options: ExecOptions = {},
  ): Promise<ExecResult> {
    const container = options.containerName ?? (await this.container(instanceId, true))
    return execIn(this.engine, container, command, env, undefined, options.stdin)
  }

  /** This installation's containers; with `legacy`, also those from before installation labels (anyone's), marked. */
  async list(options: {legacy?: boolean} = {}): Promise<ContainerState[]> {
    const installation = this.installation()
    if (!installation) return []
    const [own, legacy] = await Promise.all([
      ownContainers(this.engine, installation),
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

  async stats(instanceId: string): Promise<ContainerStats | undefined> {
    if (adoptedName(instanceId) !== undefined) {
      const info = await this.adopted(instanceId)
      return info?.State.Running ? containerStats(this.engine, info.Id) : undefined
    }
    if (!this.installation()) return undefined
    const [container] = (await this.instanceContainers(instanceId)).filter((c) => c.State === 'running')
    return container && containerStats(this.engine, container.Id)
  }

  async logs(instanceId: string, options: LogOptions): Promise<AsyncIterable<string>> {
    return containerLogs(this.engine, await this.container(instanceId), options)
  }
}
