import Docker from 'dockerode'

export const docker = new Docker()

/** Containers and volumes that carry dbroker's instance label, optionally for one instance and one installation. */
export async function labelled(
  instanceId?: string,
  installation?: string,
): Promise<{containers: Docker.ContainerInfo[]; volumes: Docker.VolumeInspectInfo[]}> {
  const label = [
    instanceId ? `dbroker.instance=${instanceId}` : 'dbroker.instance',
    ...(installation ? [`dbroker.installation=${installation}`] : []),
  ]
  const containers = await docker.listContainers({all: true, filters: {label}})
  const volumes = (await docker.listVolumes({filters: {label}})).Volumes ?? []
  return {containers, volumes}
}

/** Removes every container and volume of the given instances (or all labelled ones), optionally only one installation's. */
export async function removeLabelled(instanceIds?: string[], installation?: string): Promise<void> {
  const targets = instanceIds ?? [undefined]
  for (const id of targets) {
    const {containers, volumes} = await labelled(id, installation)
    await Promise.all(
      containers.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({force: true})
          .catch(() => undefined),
      ),
    )
    await Promise.all(
      volumes.map((v) =>
        docker
          .getVolume(v.Name)
          .remove()
          .catch(() => undefined),
      ),
    )
  }
}

/** Removes an installation's network (made by its agent on the first provision), once its containers are gone. */
export async function removeInstallationNetwork(installation: string): Promise<void> {
  await docker
    .getNetwork(`dbroker-${installation}`)
    .remove()
    .catch((error: {statusCode?: number}) => {
      if (error.statusCode !== 404) throw error
    })
}

/**
 * Removes an instance's containers and then its volumes, as a wiped disk would; again when the converger or the
 * supervisor re-made a container in between (its volume is then in use). Returns the ids of the containers removed.
 */
export async function loseContainerAndVolume(instanceId: string): Promise<string[]> {
  const gone: string[] = []
  for (let attempt = 0; attempt < 5; attempt++) {
    const {containers, volumes} = await labelled(instanceId)
    for (const c of containers) await docker.getContainer(c.Id).remove({force: true})
    gone.push(...containers.map((c) => c.Id))
    const removed = await Promise.all(
      volumes.map((v) =>
        docker
          .getVolume(v.Name)
          .remove()
          .then(
            () => true,
            () => false,
          ),
      ),
    )
    if (removed.every(Boolean)) return gone
  }
  throw new Error(`the volume of ${instanceId} stayed in use`)
}
