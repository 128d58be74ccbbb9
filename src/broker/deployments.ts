import type {ContainerStats, ContainerView} from '../core/admin.js'
import type {AgentClient} from '../core/agent.js'
import type {
  DeleteDeploymentResult,
  DeployedContainerDetail,
  DeployedContainerView,
  DeploymentView,
  DeployResult,
} from '../core/deployments.js'
import {conflict, errorMessage, notFound, OsbError} from '../core/errors.js'
import type {InstanceState} from '../core/types.js'
import {withTimeout} from '../core/pause.js'
import {groupNetworkName} from '../core/security.js'
import {ManifestError, parseManifest} from '../manifest/index.js'
import {type DeploymentDiff, type DiffAction, diffDeployment, formatDiff} from '../manifest/diff.js'
import {startOrder} from '../manifest/plan.js'
import {type DeploymentSpecs, parseDeploymentKey, toSpecs} from '../manifest/specs.js'
import {PortRangeFullError, type Store} from '../store/index.js'
import type {
  DeploymentContainerRecord,
  DeploymentContainerState,
  DeploymentContainerWrite,
} from '../store/repositories/deployments.js'
import {type PushOptions, pushDeployment} from './deployment-push.js'
import {isLive} from './placement.js'

export type DeploymentsOptions = PushOptions

/** A dry run's transaction ends by throwing this, so nothing it reserved stays. */
class DryRun extends Error {
  constructor(readonly result: {diff: DeploymentDiff}) {
    super('dry run')
  }
}

const INSTANCE_STATE: Record<DeploymentContainerState, InstanceState> = {
  pending: 'provisioning',
  ready: 'ready',
  failed: 'failed',
  removing: 'deprovisioning',
}

/** A manifest problem is the operator's to fix: a 400 whose description names file, path and line. */
const refused = (error: ManifestError) =>
  new OsbError(400, error.message, 'ManifestInvalid', {file: error.file, problems: error.problems})

const specsOf = (deployment: string, rows: DeploymentContainerRecord[]): DeploymentSpecs => {
  const hosts: DeploymentSpecs['hosts'] = {}
  for (const row of rows) hosts[row.hostId] = [...(hosts[row.hostId] ?? []), row.spec]
  return {deployment, hosts}
}

/**
 * Manifest deploys: validate, place each container on its named host with
 * ports from that host's range, store it all in one transaction, then push it
 * to the hosts' agents (deployment-push.ts). What the push could not finish,
 * the hosts' convergence and `settle()` finish later.
 */
export class Deployments {
  /** Deployments this broker is pushing now: a second deploy of one waits for none, it is refused. */
  private readonly pushing = new Set<string>()

  constructor(private readonly options: DeploymentsOptions) {}

  /** `name`, when given, must be the manifest's own (the admin API's path names it). */
  async deploy(
    manifest: string,
    file: string,
    {dryRun = false, name: expected}: {dryRun?: boolean; name?: string} = {},
  ): Promise<DeployResult> {
    let deployment
    try {
      deployment = parseManifest(manifest, file)
      if (expected !== undefined && deployment.name !== expected) {
        const line = deployment.lineOf(['name'])
        throw new ManifestError(file, [
          {path: 'name', line, message: `the manifest deploys ${deployment.name}, not ${expected}`},
        ])
      }
    } catch (error) {
      if (error instanceof ManifestError) throw refused(error)
      throw error
    }
    const {name} = deployment
    if (!dryRun && this.pushing.has(name))
      throw conflict(`deployment ${name} is being deployed; try again when it is done`)
    const {store} = this.options
    const planned = async (trx: Store) => {
      await trx.lockPlacement()
      const rows = await trx.deployments.containers({deployment: name})
      const previous = specsOf(
        name,
        rows.filter((r) => r.state !== 'removing'),
      )
      const hosts = new Map((await trx.listHosts()).map((h) => [h.id, h]))
      let next: DeploymentSpecs
      try {
        next = await toSpecs(deployment, {
          hosts,
          previous: rows.length > 0 ? previous : undefined,
          allocate: (host, key, ports) => trx.allocatePorts(host, key, ports),
        })
      } catch (error) {
        if (error instanceof ManifestError) throw refused(error)
        if (error instanceof PortRangeFullError) throw conflict(`${error.message}: nothing of ${name} was stored`)
        throw error
      }
      return {
        rows,
        previous: rows.length > 0 ? previous : undefined,
        next,
        diff: diffDeployment(rows.length > 0 ? previous : undefined, next),
      }
    }
    if (dryRun) {
      const {diff} = await store
        .transaction(async (trx) => {
          throw new DryRun(await planned(trx))
        })
        .catch((error: unknown) => {
          if (error instanceof DryRun) return error.result
          throw error
        })
      return {deployment: name, dryRun: true, diff, lines: formatDiff(diff), containers: []}
    }
    this.pushing.add(name)
    try {
      const {diff, version} = await store.transaction(async (trx) => {
        const plan = await planned(trx)
        const version = await trx.deployments.save({name, file, manifest}, writesOf(plan.rows, plan.next, plan.diff))
        for (const spec of Object.values(plan.next.hosts).flat()) {
          const kept = new Set(spec.ports.map((p) => p.host))
          const stale = (await trx.portsOf(spec.instanceId)).filter((p) => !kept.has(p.port))
          for (const p of stale) await trx.releasePorts(p.hostId, [p.port])
        }
        return {diff: plan.diff, version}
      })
      const actions = new Map<string, DiffAction>(
        diff.hosts.flatMap((h) => h.steps.map((s) => [s.instanceId, s.action])),
      )
      const containers = await pushDeployment(this.options, name, actions)
      this.options.log.info(`deployed ${name} version ${version}: ${formatDiff(diff).at(-1)}`)
      return {deployment: name, version, dryRun: false, diff, lines: formatDiff(diff), containers}
    } finally {
      this.pushing.delete(name)
    }
  }

  /** Removes every container of the deployment, then the deployment; a host that can't be told yet keeps it listed. */
  async remove(name: string): Promise<DeleteDeploymentResult> {
    const {store} = this.options
    if (!(await store.deployments.get(name))) throw notFound(`no deployment is named ${name}`)
    if (this.pushing.has(name)) throw conflict(`deployment ${name} is being deployed; try again when it is done`)
    this.pushing.add(name)
    try {
      await store.transaction(async (trx) => {
        for (const row of await trx.deployments.containers({deployment: name}))
          await trx.deployments.setState(row.instanceId, 'removing')
      })
      const containers = await pushDeployment(this.options, name)
      const deleted = await store.deployments.delete(name)
      this.options.log.info(deleted ? `deleted deployment ${name}` : `deployment ${name}: removal pending on a host`)
      return {deployment: name, deleted, containers}
    } finally {
      this.pushing.delete(name)
    }
  }

  /** Pushes again what a push left unfinished: containers still pending (a broker stopped mid-deploy) or removing. */
  async settle(): Promise<void> {
    const {store} = this.options
    const open = await store.deployments.containers({states: ['pending', 'removing']})
    for (const name of new Set(open.map((r) => r.deployment))) {
      if (this.pushing.has(name)) continue
      this.pushing.add(name)
      try {
        await pushDeployment(this.options, name)
        const left = await store.deployments.containers({deployment: name})
        if (left.length === 0) await store.deployments.delete(name)
      } catch (error) {
        this.options.log.warn(`cannot settle deployment ${name}: ${errorMessage(error)}`)
      } finally {
        this.pushing.delete(name)
      }
    }
  }

  /** Every deployment (or one) with its containers as their agents see them now. */
  async status(name?: string): Promise<DeploymentView[]> {
    const {store} = this.options
    const deployments = name
      ? [await store.deployments.get(name)].filter((d) => d !== undefined)
      : await store.deployments.list()
    if (name && deployments.length === 0) throw notFound(`no deployment is named ${name}`)
    const containers = await this.containers(name)
    return deployments.map((d) => ({
      name: d.name,
      file: d.file,
      version: d.version,
      createdAt: d.createdAt,
      updatedAt: d.updatedAt,
      containers: containers.filter((c) => c.deployment === d.name),
    }))
  }

  /** One deployed container by its id: its state as the list shows it, and what its spec asks for (not its env). */
  async container(id: string): Promise<DeployedContainerDetail> {
    const {store} = this.options
    const row = await store.deployments.container(id)
    const view = row && (await this.containers(row.deployment)).find((c) => c.id === id)
    if (!row || !view) throw notFound(`no deployed container has the id ${id}: \`dbroker deploy status\` lists them`)
    const {spec} = row
    return {
      ...view,
      stats: view.container?.status === 'running' ? ((await this.sample(row.hostId, id)) ?? null) : null,
      containerName: spec.name,
      restart: spec.restart,
      memoryLimitBytes: spec.memoryBytes ?? null,
      nanoCpus: spec.nanoCpus ?? null,
      volumes: spec.volumes,
      binds: spec.binds ?? [],
      disk: spec.disk ? {path: spec.disk.path, sizeBytes: spec.disk.sizeBytes} : null,
      network: spec.network
        ? {name: groupNetworkName(await store.installationId(), spec.network.name), aliases: spec.network.aliases}
        : null,
    }
  }

  /** One CPU/memory sample of a running container; none when its host is not live or no sample comes within 3 s. */
  private async sample(hostId: string, id: string): Promise<ContainerStats | undefined> {
    const host = await this.options.store.getHost(hostId)
    const agent = host && isLive(host, this.options.keepaliveMs) ? this.options.agentFor(host) : undefined
    if (!agent?.stats) return undefined
    return withTimeout(
      agent.stats(id).catch(() => undefined),
      3000,
    )
  }

  /** Deployed containers in the shape of the instance list, with what their hosts' agents report. */
  async containers(deployment?: string): Promise<DeployedContainerView[]> {
    const {store, keepaliveMs} = this.options
    const [rows, hosts] = await Promise.all([store.deployments.containers({deployment}), store.listHosts()])
    const live = new Map<string, ContainerView>()
    await Promise.all(
      hosts
        .filter((h) => rows.some((r) => r.hostId === h.id) && isLive(h, keepaliveMs))
        .map(async (host) => {
          const agent: AgentClient = this.options.agentFor(host)
          for (const c of await agent.list().catch(() => []))
            live.set(c.instanceId, {
              status: c.status,
              health: c.health,
              restartCount: c.restartCount,
              startedAt: c.startedAt ?? null,
              ...(c.lastExitCode === undefined ? {} : {lastExitCode: c.lastExitCode}),
              ...(c.oomKilled ? {oomKilled: true} : {}),
              ...(c.failing ? {failing: true} : {}),
            })
        }),
    )
    const byId = new Map(hosts.map((h) => [h.id, h]))
    return inStartOrder(rows).map((r) => ({
      id: r.instanceId,
      name: r.name,
      service: 'deploy',
      plan: r.deployment,
      serviceId: '',
      planId: '',
      hostId: r.hostId,
      address: byId.get(r.hostId)?.serviceAddress ?? '',
      ports: r.spec.ports,
      state: INSTANCE_STATE[r.state],
      container: live.get(r.instanceId) ?? null,
      stats: null,
      createdAt: r.createdAt,
      deployment: r.deployment,
      deployState: r.state,
      error: r.error,
      image: r.spec.image,
      dependsOn: (r.spec.dependsOn ?? []).map((d) => parseDeploymentKey(d)?.container ?? d),
    }))
  }
}

/** Per deployment and host, each container after what it depends on, as the push starts them. */
function inStartOrder(rows: DeploymentContainerRecord[]): DeploymentContainerRecord[] {
  const groups = new Map<string, DeploymentContainerRecord[]>()
  for (const row of rows)
    groups.set(`${row.deployment}/${row.hostId}`, [...(groups.get(`${row.deployment}/${row.hostId}`) ?? []), row])
  return [...groups.values()].flatMap((group) => {
    const byId = new Map(group.map((r) => [r.instanceId, r]))
    return startOrder(group.map((r) => ({name: r.instanceId, dependsOn: r.spec.dependsOn ?? []}))).map((id) =>
      byId.get(id)!,
    )
  })
}

/**
 * The rows a deploy writes: changed and new containers `pending` (the push
 * makes them; convergence leaves them alone until then), unchanged ones as
 * they were, and the ones that left the manifest `removing`.
 */
function writesOf(
  rows: DeploymentContainerRecord[],
  next: DeploymentSpecs,
  diff: DeploymentDiff,
): DeploymentContainerWrite[] {
  const was = new Map(rows.map((r) => [r.instanceId, r]))
  const action = new Map(diff.hosts.flatMap((h) => h.steps.map((s) => [s.instanceId, s.action])))
  const writes: DeploymentContainerWrite[] = []
  for (const [hostId, specs] of Object.entries(next.hosts))
    for (const spec of specs) {
      const before = was.get(spec.instanceId)
      const kept = action.get(spec.instanceId) !== 'create' && action.get(spec.instanceId) !== 'recreate'
      const state = kept && before && before.state !== 'removing' ? before.state : 'pending'
      writes.push({
        instanceId: spec.instanceId,
        hostId,
        name: parseDeploymentKey(spec.instanceId)!.container,
        spec,
        state,
      })
    }
  const staying = new Set(writes.map((w) => w.instanceId))
  for (const row of rows)
    if (!staying.has(row.instanceId))
      writes.push({instanceId: row.instanceId, hostId: row.hostId, name: row.name, spec: row.spec, state: 'removing'})
  return writes
}
