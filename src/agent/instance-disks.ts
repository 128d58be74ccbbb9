import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmod, chown, mkdir, readdir, rename, rm, rmdir, stat} from 'node:fs/promises'
import path from 'node:path'

import type Docker from 'dockerode'

import {EngineError, errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec, DiskSpec, HostFacts} from '../core/types.js'
import {type Engine, execIn, LABEL_INSTALLATION, LABEL_INSTANCE} from '../docker/engine.js'
import {checkVolumes} from '../docker/ownership.js'
import {
  DEFAULT_DISKS_DIR,
  LoopDisks,
  loopSupported,
  parseDiskSize,
  type ResizeFaults,
  type ResizeReport,
} from './disks.js'
import {waitReady} from './readiness.js'

/** Test seam: `DBROKER_DISK_FAULT=afterCopy` makes every resize on this agent fail right after that step. */
export const DISK_FAULT_ENV = 'DBROKER_DISK_FAULT'

type Driver = 'loop' | 'volume'
type Mount = NonNullable<NonNullable<Docker.ContainerCreateOptions['HostConfig']>['Mounts']>[number]

export interface InstanceDisksOptions {
  /** Where loop images live; outside the engine's data root, so a wiped engine keeps them. */
  disksDir?: string
  /** The driver for specs that name none; `loop` where this host can, else `volume`. */
  defaultDriver?: Driver
  log?: Logger
}

/** A loop disk's id: the installation and the instance, readable, bounded, never a path. */
export function loopDiskId(installation: string, instanceId: string): string {
  const slug = (text: string, max: number) =>
    text
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^[-_]+/, '')
      .slice(0, max)
  const hash = createHash('sha256').update(`${installation}\0${instanceId}`).digest('hex').slice(0, 8)
  return `${slug(installation, 16) || 'i'}-${slug(instanceId, 36)}-${hash}`.replace(/--+/g, '-')
}

function checkDisk(disk: DiskSpec): void {
  if (typeof disk.path !== 'string' || !disk.path.startsWith('/') || disk.path.includes(':'))
    throw new EngineError(`the spec's disk path ${JSON.stringify(disk.path)} is not an absolute path in the container`)
  if (disk.driver !== undefined && disk.driver !== 'loop' && disk.driver !== 'volume')
    throw new EngineError(`the spec's disk driver ${JSON.stringify(disk.driver)} is neither loop nor volume`)
}

/**
 * A spec's `disk` on this host: a loop image mounted by the agent and bound into the container, or a
 * named Docker volume. A loop disk whose size differs from the spec is resized here, the BOSH way, with
 * the instance's container stopped around the copy.
 */
export class InstanceDisks {
  private constructor(
    private readonly engine: Engine,
    private readonly loop: LoopDisks | undefined,
    private readonly driver: Driver,
    private readonly reason: string | undefined,
    private readonly log?: Logger,
  ) {}

  static async forHost(engine: Engine, options: InstanceDisksOptions = {}): Promise<InstanceDisks> {
    const support = await loopSupported()
    if (!support.supported) {
      if (options.defaultDriver === 'loop') throw new EngineError(support.reason)
      options.log?.info(support.reason)
      return new InstanceDisks(engine, undefined, 'volume', support.reason, options.log)
    }
    const engineDataRoot = (await engine.info()).DockerRootDir as string | undefined
    const loop = new LoopDisks({disksDir: options.disksDir ?? DEFAULT_DISKS_DIR, engineDataRoot, log: options.log})
    await loop.mounts() // makes the dir, and refuses one inside the engine's data root, now rather than at a provision
    return new InstanceDisks(engine, loop, options.defaultDriver ?? 'loop', undefined, options.log)
  }

  facts(): Pick<HostFacts, 'disks'> {
    return {disks: {driver: this.driver, ...(this.reason ? {reason: this.reason} : {})}}
  }

  /** At agent start, before convergence: every loop disk mounted again, so containers find their data. */
  async mountAll(): Promise<void> {
    if (!this.loop) return
    const result = await this.loop.mountAll()
    if (result.mounted.length > 0)
      this.log?.info(`mounted ${result.mounted.length} disk(s): ${result.mounted.join(', ')}`)
    if (result.failed.length > 0)
      this.log?.error(`cannot mount disk(s) ${result.failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`)
  }

  /**
   * Before the container is made: the disk exists, is mounted and has the spec's size. Returns what the
   * create call mounts, and `addTo` puts it in the create options. Idempotent: a second call changes nothing.
   */
  async prepare(
    spec: ContainerSpec,
    installation: string,
    probeAddress: string,
  ): Promise<(options: Docker.ContainerCreateOptions) => Docker.ContainerCreateOptions> {
    const disk = spec.disk
    if (!disk) return (options) => options
    checkDisk(disk)
    const mount = await this.mountFor(spec, disk, installation, probeAddress)
    return (options) => ({
      ...options,
      HostConfig: {...options.HostConfig, Mounts: [...(options.HostConfig?.Mounts ?? []), mount]},
    })
  }

  private async mountFor(spec: ContainerSpec, disk: DiskSpec, installation: string, probeAddress: string) {
    const driver = disk.driver ?? this.driver
    const owner = {[LABEL_INSTANCE]: spec.instanceId, [LABEL_INSTALLATION]: installation}
    if (driver === 'volume') {
      await checkVolumes(this.engine, spec.name, [disk.name], spec.instanceId, installation)
      return {
        Type: 'volume',
        Source: disk.name,
        Target: disk.path,
        VolumeOptions: {Labels: owner} as unknown as Docker.MountSettings['VolumeOptions'],
      } satisfies Mount
    }
    if (!this.loop) throw new EngineError(`instance ${spec.instanceId} asks for a loop disk: ${this.reason}`)
    const id = loopDiskId(installation, spec.instanceId)
    const made = await this.loop.create(id, disk.sizeBytes)
    if (made.created) await this.fillFromImage(spec, disk, made.mountPoint, owner)
    if (made.sizeBytes !== parseDiskSize(disk.sizeBytes)) await this.resize(spec, id, disk, probeAddress)
    return {Type: 'bind', Source: made.mountPoint, Target: disk.path} satisfies Mount
  }

  /**
   * A new disk starts as a new Docker volume would: with what the image has at the path, owners and modes
   * included, so a service that runs as its own user can write there. No lost+found: initdb refuses a
   * directory that isn't empty.
   */
  private async fillFromImage(
    spec: ContainerSpec,
    disk: DiskSpec,
    mountPoint: string,
    labels: Record<string, string>,
  ): Promise<void> {
    await rm(path.join(mountPoint, 'lost+found'), {recursive: true, force: true})
    const helper = await this.engine.createContainer({
      Image: spec.image,
      Entrypoint: ['/nonexistent'],
      Labels: labels,
      NetworkDisabled: true,
      HostConfig: {NetworkMode: 'none'},
    })
    try {
      const archive = await helper.getArchive({path: disk.path}).catch((error: {statusCode?: number}) => {
        if (error.statusCode === 404) return undefined
        throw error
      })
      if (!archive) return
      const unpack = path.join(mountPoint, '.dbroker-image')
      await untar(archive, unpack)
      const [top] = await readdir(unpack)
      const from = path.join(unpack, top)
      for (const name of await readdir(from)) await rename(path.join(from, name), path.join(mountPoint, name))
      const s = await stat(from)
      await chown(mountPoint, s.uid, s.gid)
      await chmod(mountPoint, s.mode & 0o7777)
      await rmdir(from)
      await rmdir(unpack)
    } finally {
      await helper.remove({force: true}).catch(() => undefined)
    }
  }

  private async resize(spec: ContainerSpec, id: string, disk: DiskSpec, probeAddress: string): Promise<ResizeReport> {
    const container = this.engine.getContainer(spec.name)
    const running = (await container.inspect().catch(() => undefined))?.State.Running === true
    const fault = process.env[DISK_FAULT_ENV]
    const faults: ResizeFaults = fault ? {[fault]: true} : {}
    this.log?.info(`disk of instance ${spec.instanceId}: resizing to ${disk.sizeBytes} bytes`)
    const report = await this.loop!.resize(id, disk.sizeBytes, {
      faults,
      hooks: running
        ? {
            stop: async () => {
              await container.stop({t: 30}).catch((error: {statusCode?: number}) => {
                if (error.statusCode !== 304) throw error
              })
            },
            start: async () => {
              await container.start().catch((error: {statusCode?: number}) => {
                if (error.statusCode !== 304) throw error
              })
              await waitReady({
                spec,
                address: probeAddress,
                exec: (command) => execIn(this.engine, spec.name, command),
                check: async () => {
                  const now = await container.inspect()
                  if (!now.State.Running && !now.State.Restarting)
                    throw new EngineError(
                      `container ${spec.name} exited with code ${now.State.ExitCode} on its new disk`,
                    )
                  return {health: now.State.Health?.Status ?? 'none'}
                },
              })
            },
          }
        : {},
    })
    this.log?.info(
      `disk of instance ${spec.instanceId}: ${report.fromBytes} -> ${report.toBytes} bytes, ${report.entries} entries verified, ${report.downtimeMs} ms down (${Object.entries(
        report.steps,
      )
        .map(([step, ms]) => `${step} ${ms}`)
        .join(', ')} ms)`,
    )
    return report
  }

  /** With the instance's containers gone: its loop disk goes too (a volume disk went with the container's volumes). */
  async remove(installation: string, instanceId: string): Promise<void> {
    if (!this.loop) return
    const id = loopDiskId(installation, instanceId)
    if (await this.loop.has(id)) await this.loop.remove(id)
  }
}

/** Unpacks a tar stream into a new directory, keeping owners and modes (the agent runs as root). */
async function untar(archive: NodeJS.ReadableStream, into: string): Promise<void> {
  await mkdir(into, {mode: 0o700})
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', ['-x', '--same-owner', '--same-permissions', '--numeric-owner', '-C', into], {
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    let stderr = ''
    tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    tar.on('error', reject)
    tar.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new EngineError(`cannot unpack the image's data: ${stderr.trim() || `tar exited ${code}`}`)),
    )
    archive.on('error', (error) => reject(new EngineError(`cannot read the image's data: ${errorMessage(error)}`)))
    archive.pipe(tar.stdin)
  })
}

/** The create options' disk mount for a spec; a spec with a disk on an agent without disks is refused. */
export async function diskFor(
  disks: InstanceDisks | undefined,
  spec: ContainerSpec,
  installation: string,
  probeAddress: string,
): Promise<(options: Docker.ContainerCreateOptions) => Docker.ContainerCreateOptions> {
  if (!spec.disk) return (options) => options
  if (!disks) throw new EngineError(`instance ${spec.instanceId} has a disk, and this agent was started without disks`)
  return disks.prepare(spec, installation, probeAddress)
}
