import type {AgentClient} from '../core/agent.js'
import type {ContainerOutcome} from '../core/deployments.js'
import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {Host} from '../core/types.js'
import type {DiffAction} from '../manifest/diff.js'
import {startOrder} from '../manifest/plan.js'
import type {Store} from '../store/index.js'
import type {DeploymentContainerRecord} from '../store/repositories/deployments.js'
import {isLive} from './placement.js'

export interface PushOptions {
  store: Store
  agentFor: (host: Host) => AgentClient
  keepaliveMs: number
  log: Logger
}

/**
 * Tells each host's agent what a stored deployment wants, hosts side by side:
 * first the removals, dependents before what they depend on; then every other
 * container as soon as all it depends on is up — made or recreated when its
 * action says so (or it was never pushed), restarted when a dependency was
 * recreated. `actions` come from the deploy's diff; without them (a push
 * resumed later) every container not yet `ready` is applied.
 */
export async function pushDeployment(
  options: PushOptions,
  name: string,
  actions: ReadonlyMap<string, DiffAction> = new Map(),
): Promise<ContainerOutcome[]> {
  const {store} = options
  const rows = await store.deployments.containers({deployment: name})
  const byHost = new Map<string, DeploymentContainerRecord[]>()
  for (const row of rows) byHost.set(row.hostId, [...(byHost.get(row.hostId) ?? []), row])
  const outcomes = await Promise.all(
    [...byHost].map(async ([hostId, containers]) => {
      const host = await store.getHost(hostId)
      const agent = host && isLive(host, options.keepaliveMs) ? options.agentFor(host) : undefined
      const down = host ? `host ${hostId} is not alive` : `host ${hostId} is not registered`
      return pushHost(options, containers, agent, down, actions)
    }),
  )
  return outcomes.flat()
}

async function pushHost(
  {store, log}: PushOptions,
  containers: DeploymentContainerRecord[],
  agent: AgentClient | undefined,
  down: string,
  actions: ReadonlyMap<string, DiffAction>,
): Promise<ContainerOutcome[]> {
  const outcome = (
    row: DeploymentContainerRecord,
    action: DiffAction,
    state: ContainerOutcome['state'],
    error?: string,
  ) =>
    ({
      host: row.hostId,
      container: row.name,
      instanceId: row.instanceId,
      action,
      state,
      ...(error ? {error} : {}),
    }) as ContainerOutcome
  const nodes = (list: DeploymentContainerRecord[]) =>
    list.map((r) => ({name: r.instanceId, dependsOn: r.spec.dependsOn ?? []}))
  const results: ContainerOutcome[] = []

  const leaving = containers.filter((r) => r.state === 'removing')
  const byId = new Map(containers.map((r) => [r.instanceId, r]))
  for (const id of startOrder(nodes(leaving)).reverse()) {
    const row = byId.get(id)!
    try {
      if (!agent) throw new Error(down)
      await agent.remove(id)
      await store.deployments.deleteContainer(id)
      results.push(outcome(row, 'remove', 'removed'))
    } catch (error) {
      // The row stays `removing`: the next push (a deploy, a delete, the broker's settle pass) tells the agent again.
      await store.deployments.setState(id, 'removing', errorMessage(error))
      log.warn(`cannot remove container ${row.name} of deployment ${row.deployment} yet: ${errorMessage(error)}`)
      results.push(outcome(row, 'remove', 'removing', errorMessage(error)))
    }
  }

  const staying = containers.filter((r) => r.state !== 'removing')
  const done = new Map<string, Promise<boolean>>()
  for (const id of startOrder(nodes(staying))) {
    const row = byId.get(id)!
    const dependencies = (row.spec.dependsOn ?? []).map((d) => done.get(d)).filter((p) => p !== undefined)
    done.set(
      id,
      (async () => {
        const action = actions.get(id) ?? (row.state === 'ready' ? 'unchanged' : 'create')
        const ready = await Promise.all(dependencies)
        try {
          if (!agent) throw new Error(down)
          if (!ready.every(Boolean)) throw new Error('a container it depends on did not start')
          if (action === 'restart' && row.state === 'ready') await agent.restart(id, {after: row.spec.dependsOn ?? []})
          else if (action === 'create' || action === 'recreate' || row.state !== 'ready') {
            const state = await agent.apply(row.spec)
            if (state.status === 'missing') throw new Error('the agent did not make its container')
          }
          await store.deployments.setState(id, 'ready')
          results.push(outcome(row, action, 'ready'))
          return true
        } catch (error) {
          // `failed` rows are in the host's desired state: convergence keeps trying to make them.
          await store.deployments.setState(id, 'failed', errorMessage(error))
          log.warn(`container ${row.name} of deployment ${row.deployment}: ${errorMessage(error)}`)
          results.push(outcome(row, action, 'failed', errorMessage(error)))
          return false
        }
      })(),
    )
  }
  await Promise.all(done.values())
  return results
}
