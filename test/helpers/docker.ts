import Docker from 'dockerode'

export const docker = new Docker()

/** Containers and volumes that carry dbroker's instance label, optionally for one instance. */
export async function labelled(instanceId?: string): Promise<{containers: Docker.ContainerInfo[]; volumes: Docker.VolumeInspectInfo[]}> {
  const label = instanceId ? `dbroker.instance=${instanceId}` : 'dbroker.instance'
  const containers = await docker.listContainers({all: true, filters: {label: [label]}})
  const volumes = (await docker.listVolumes({filters: {label: [label]}})).Volumes ?? []
  return {containers, volumes}
}

/** Removes every container and volume of the given instances (or all labelled ones). */
export async function removeLabelled(instanceIds?: string[]): Promise<void> {
  const targets = instanceIds ?? [undefined]
  for (const id of targets) {
    const {containers, volumes} = await labelled(id)
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({force: true}).catch(() => undefined)))
    await Promise.all(volumes.map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)))
  }
}
