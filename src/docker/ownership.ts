import type Docker from 'dockerode'

import {EngineError} from '../core/errors.js'
import type {Engine} from './engine.js'
import {groupNetworkName, LABEL_INSTALLATION, LABEL_INSTANCE, networkName} from './container-options.js'

const LABEL_NETWORK_GROUP = 'dbroker.network'

const ICC = 'com.docker.network.bridge.enable_icc'

/**
 * Why a container or volume with these labels is not the given instance's in
 * this installation; undefined when it is. One without an installation label
 * was made before they existed, and is the instance's if the instance label says so.
 */
export function foreignOwner(
  labels: Record<string, string> | null | undefined,
  instanceId: string,
  installation: string,
): string | undefined {
  const instance = labels?.[LABEL_INSTANCE]
  if (instance === undefined) return 'dbroker did not make it'
  if (instance !== instanceId) return `it belongs to instance ${instance}`
  const owner = labels?.[LABEL_INSTALLATION]
  if (owner !== undefined && owner !== installation) return `it belongs to another dbroker installation (${owner})`
  return undefined
}

const statusOf = (error: unknown) => (error as {statusCode?: number}).statusCode

interface NetworkInfo {
  Id: string
  Name: string
  Created?: string
  Labels?: Record<string, string>
  Options?: Record<string, string>
  Containers?: Record<string, unknown>
}

/**
 * The installation's network, made on first use. The engine's duplicate check
 * is not atomic, so a second one of the name made by a race is removed again;
 * one of that name that isn't ours (or lets containers talk) is refused.
 */
export async function ensureNetwork(engine: Engine, installation: string): Promise<string> {
  const name = networkName(installation)
  // The name filter matches substrings: keep the exact name only.
  const named = async () =>
    ((await engine.listNetworks({filters: {name: [name]}})) as NetworkInfo[]).filter((n) => n.Name === name)
  let networks = await named()
  if (networks.length === 0) {
    await engine
      .createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Options: {[ICC]: 'false'},
        Labels: {[LABEL_INSTALLATION]: installation},
      })
      .catch((error: unknown) => {
        // Another agent process made it meanwhile.
        if (statusOf(error) !== 409)
          throw new EngineError(`cannot create the network ${name}: ${(error as Error).message}`)
      })
    networks = await named()
  }
  const foreign = networks.find((n) => n.Labels?.[LABEL_INSTALLATION] !== installation || n.Options?.[ICC] !== 'false')
  if (foreign || networks.length === 0) {
    throw new EngineError(
      `a network named ${name} exists that dbroker did not make for this installation with inter-container traffic off; it is left alone`,
    )
  }
  const [kept, ...extra] = [...networks].sort(
    (x, y) => (x.Created ?? '').localeCompare(y.Created ?? '') || x.Id.localeCompare(y.Id),
  )
  for (const network of extra) {
    const inUse =
      Object.keys(
        (
          await engine
            .getNetwork(network.Id)
            .inspect()
            .catch(() => ({Containers: {}}))
        ).Containers ?? {},
      ).length > 0
    if (inUse)
      throw new EngineError(
        `two networks named ${name} exist and both are in use (${kept.Id.slice(0, 12)}, ${network.Id.slice(0, 12)}); remove one`,
      )
    await engine
      .getNetwork(network.Id)
      .remove()
      .catch(() => undefined)
  }
  return name
}

/**
 * A group's network (a deployment's containers on one host), made on first use: unlike the installation's,
 * its containers reach each other, by the aliases their specs give. One of the name that isn't ours is refused.
 */
export async function ensureGroupNetwork(engine: Engine, installation: string, group: string): Promise<string> {
  const name = groupNetworkName(installation, group)
  const find = async () =>
    ((await engine.listNetworks({filters: {name: [name]}})) as NetworkInfo[]).find((n) => n.Name === name)
  let network = await find()
  if (!network) {
    await engine
      .createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: {[LABEL_INSTALLATION]: installation, [LABEL_NETWORK_GROUP]: group},
      })
      .catch((error: unknown) => {
        if (statusOf(error) !== 409)
          throw new EngineError(`cannot create the network ${name}: ${(error as Error).message}`)
      })
    network = await find()
  }
  if (network?.Labels?.[LABEL_INSTALLATION] !== installation)
    throw new EngineError(
      `a network named ${name} exists that dbroker did not make for this installation; it is left alone`,
    )
  return name
}

/** Removes a group's network once none of its containers is left; one still in use stays. */
export async function releaseGroupNetwork(engine: Engine, installation: string, group: string): Promise<void> {
  await engine
    .getNetwork(groupNetworkName(installation, group))
    .remove()
    .catch((error: unknown) => {
      if (![403, 404, 409].includes(statusOf(error) ?? 0)) throw error
    })
}

/** Containers of this installation, optionally of one instance. */
export function ownContainers(
  engine: Engine,
  installation: string,
  instanceId?: string,
): Promise<Docker.ContainerInfo[]> {
  const label = [
    instanceId === undefined ? LABEL_INSTANCE : `${LABEL_INSTANCE}=${instanceId}`,
    `${LABEL_INSTALLATION}=${installation}`,
  ]
  return engine.listContainers({all: true, filters: {label}})
}

/** Containers a dbroker made before installation labels existed: any installation's. */
export async function legacyContainers(engine: Engine): Promise<Docker.ContainerInfo[]> {
  const labelled = await engine.listContainers({all: true, filters: {label: [LABEL_INSTANCE]}})
  return labelled.filter((c) => c.Labels?.[LABEL_INSTALLATION] === undefined)
}

async function volumeLabels(engine: Engine, name: string): Promise<Record<string, string> | null | undefined> {
  try {
    const volume = (await engine.getVolume(name).inspect()) as {Labels?: Record<string, string> | null}
    return volume.Labels ?? null
  } catch (error) {
    if (statusOf(error) === 404) return undefined
    throw error
  }
}

/**
 * Fails, naming the owner, when a volume the spec would mount, or the
 * existing container of the spec's name has mounted, is another instance's or
 * installation's. That container (made so by an older dbroker) is stopped: it
 * must not keep serving someone else's data.
 */
export async function checkVolumes(
  engine: Engine,
  containerName: string,
  names: string[],
  instanceId: string,
  installation: string,
  /** The container of that name as the caller just inspected it (null: none), so it is not inspected twice. */
  inspected?: Docker.ContainerInspectInfo | null,
): Promise<void> {
  const holder =
    inspected === undefined
      ? ((await engine
          .getContainer(containerName)
          .inspect()
          .catch(() => undefined)) as Docker.ContainerInspectInfo | undefined)
      : (inspected ?? undefined)
  const ours = holder && !foreignOwner(holder.Config.Labels, instanceId, installation)
  const mounted = ours ? holder.Mounts.filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!) : []
  for (const name of new Set([...names, ...mounted])) {
    const labels = await volumeLabels(engine, name)
    // Gone; or, among what the container has mounted, not dbroker's (an anonymous volume of the image).
    if (labels === undefined || (!names.includes(name) && !labels?.[LABEL_INSTANCE])) continue
    const foreign = foreignOwner(labels, instanceId, installation)
    if (!foreign) continue
    let stopped = ''
    if (ours && holder.State.Running && mounted.includes(name)) {
      await engine
        .getContainer(holder.Id)
        .stop({t: 10})
        .catch(() => undefined)
      stopped = `; its container ${containerName}, which had it mounted, is stopped`
    }
    throw new EngineError(`refusing to mount volume ${name} into instance ${instanceId}: ${foreign}${stopped}`)
  }
}

/**
 * Removes the instance's volumes: those its containers mounted and those
 * labelled for it in this installation. One whose labels name someone else is
 * left alone and returned with the reason; one without dbroker's labels is left alone.
 */
export async function removeVolumes(
  engine: Engine,
  installation: string,
  instanceId: string,
  mounted: string[],
): Promise<string[]> {
  const labelled =
    (
      await engine.listVolumes({
        filters: {label: [`${LABEL_INSTANCE}=${instanceId}`, `${LABEL_INSTALLATION}=${installation}`]},
      })
    ).Volumes ?? []
  const refused: string[] = []
  for (const name of new Set([...mounted, ...labelled.map((v) => v.Name)])) {
    const labels = await volumeLabels(engine, name)
    // Gone, or not dbroker's (an anonymous volume of the image goes with its container).
    if (!labels?.[LABEL_INSTANCE]) continue
    const foreign = foreignOwner(labels, instanceId, installation)
    if (foreign) {
      refused.push(`${name} (${foreign})`)
      continue
    }
    try {
      await engine.getVolume(name).remove()
    } catch (error) {
      if (statusOf(error) !== 404) throw error
    }
  }
  return refused
}

/** Removes the installation's network when no container uses it any more; one still in use stays. */
export async function releaseNetwork(engine: Engine, installation: string): Promise<void> {
  await engine
    .getNetwork(networkName(installation))
    .remove()
    .catch((error: unknown) => {
      // 404: gone already; 403/409: containers still on it (they keep running after `up` stops).
      if (![403, 404, 409].includes(statusOf(error) ?? 0)) throw error
    })
}
