import type {AgentClient} from '../core/agent.js'
import {errorMessage} from '../core/errors.js'
import type {Logger} from '../core/log.js'
import type {ContainerSpec, ContainerState} from '../core/types.js'
import {madeFrom} from '../docker/engine.js'

export interface ConvergeResult {
  /** Instances whose container was missing, stopped or out of date, and was (re)made. */
  applied: string[]
  failed: Array<{instanceId: string; error: string}>
  /** Labelled containers no desired spec claims: reported, never deleted. */
  unknown: ContainerState[]
}

const settled = new Set(['running', 'restarting'])

export interface ConvergeOptions {
  /** The generation the specs were computed at: the agent's guard skips instances the broker changed since. */
  asOf?: number
  /** Instances left alone this pass (the supervisor's: backing off, or failing). */
  held?: (instanceId: string) => boolean
}

/**
 * Brings a host to its desired containers. A lost container, a restarted
 * daemon and a wiped host all come back through here. A container from before
 * installation labels counts as an instance's only when its name is the one
 * the instance's spec gives; it is then made again, labelled and confined.
 */
export async function converge(
  agent: AgentClient,
  specs: ContainerSpec[],
  log: Logger,
  options: ConvergeOptions = {},
): Promise<ConvergeResult> {
  const listed = await agent.list({legacy: true})
  const named = new Map(specs.map((s) => [s.name, s.instanceId]))
  const actual = new Map(listed.filter((c) => !c.legacy).map((c) => [c.instanceId, c]))
  const legacy = new Map(
    listed.filter((c) => c.legacy && named.get(c.name) === c.instanceId).map((c) => [c.instanceId, c]),
  )
  const result: ConvergeResult = {applied: [], failed: [], unknown: []}
  const wanted = new Set(specs.map((s) => s.instanceId))
  for (const state of listed) {
    if (state.legacy ? legacy.get(state.instanceId) !== state : !wanted.has(state.instanceId))
      result.unknown.push(state)
  }
  const bySpec = new Map(specs.map((s) => [s.instanceId, s]))
  const passes = new Map<string, Promise<void>>()
  // A dependent waits for its dependencies in the same pass; an edge that closes a cycle is ignored.
  const pass = (spec: ContainerSpec, path: Set<string>): Promise<void> => {
    let running = passes.get(spec.instanceId)
    if (running) return running
    const within = new Set(path).add(spec.instanceId)
    const dependencies = (spec.dependsOn ?? []).flatMap((id) => {
      const dependency = bySpec.get(id)
      return dependency && !within.has(id) ? [pass(dependency, within)] : []
    })
    running = Promise.all(dependencies).then(() => bring(spec))
    passes.set(spec.instanceId, running)
    return running
  }
  const bring = async (spec: ContainerSpec): Promise<void> => {
    const state = actual.get(spec.instanceId)
    // A one-shot container (`restart: no`) that ended is done: running it again is the supervisor's or the operator's call.
    const ran = state?.status === 'exited' && spec.restart === 'no'
    if (state && (settled.has(state.status) || ran) && madeFrom(spec, state.specHash)) return
    if (options.held?.(spec.instanceId)) return
    const why = legacy.has(spec.instanceId)
      ? 'its container predates installation labels'
      : !state
        ? 'its container is missing'
        : !madeFrom(spec, state.specHash)
          ? 'its spec changed'
          : `its container is ${state.status}`
    log.info(`converging instance ${spec.instanceId}: ${why}`)
    try {
      const state = await agent.apply(spec, options.asOf === undefined ? {} : {asOf: options.asOf})
      if (state.status !== 'missing') result.applied.push(spec.instanceId)
    } catch (error) {
      result.failed.push({instanceId: spec.instanceId, error: errorMessage(error)})
      log.warn(`instance ${spec.instanceId} could not be brought back: ${errorMessage(error)}`)
    }
  }
  await Promise.all(specs.map((spec) => pass(spec, new Set())))
  return result
}
