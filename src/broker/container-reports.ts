import type {Store} from '../store/index.js'
import type {BrokerEvents} from './events.js'

/** Of one container, what a host's report (a heartbeat, or `up`'s own engine) says and screens follow. */
export interface ReportedContainer {
  instanceId: string
  status: string
  restartCount?: number
  lastExitCode?: number
  oomKilled?: boolean
  failing?: boolean
}

/** Why a container is failing, in one line: how it last ended and how often it was restarted. */
export function failingDescription(state: ReportedContainer): string {
  const ended = state.oomKilled
    ? 'killed for lack of memory'
    : state.lastExitCode === undefined
      ? 'unhealthy'
      : `exited with code ${state.lastExitCode}`
  return `${ended}, ${state.restartCount ?? 0} restart(s); the supervisor no longer restarts it`
}

/**
 * Turns hosts' container reports into change events: `container` when a
 * container's status changes, `failing` when its host's supervisor gave up on
 * it, `recovered` when it runs again after that. Service instances and
 * deployed containers alike; a host speaks only for what is placed on it.
 */
export function containerReports({store, events}: {store: Store; events: BrokerEvents}) {
  // The last reported status and failing of each container, to tell screens when one changes.
  const seen = new Map<string, {status: string; failing: boolean}>()

  return async (hostId: string, all: ReportedContainer[]): Promise<void> => {
    const [instances, deployed] = await Promise.all([
      store.listInstances({hostId}),
      store.deployments.containers({hostId}),
    ])
    const placed = new Set([...instances.map((i) => i.id), ...deployed.map((c) => c.instanceId)])
    const states = all.filter((s) => placed.has(s.instanceId))
    // The report is the host's whole list: forget containers it no longer has, so the map holds only what exists.
    const reported = new Set(states.map((s) => `${hostId}/${s.instanceId}`))
    for (const key of seen.keys()) if (key.startsWith(`${hostId}/`) && !reported.has(key)) seen.delete(key)
    for (const state of states) {
      const key = `${hostId}/${state.instanceId}`
      const before = seen.get(key)
      const failing = state.failing === true
      seen.set(key, {status: state.status, failing})
      const change = {kind: 'instance' as const, id: state.instanceId, instanceId: state.instanceId}
      if (before && before.status !== state.status)
        events.emitChange({...change, action: 'container', state: state.status})
      // A container seen failing in the broker's first report is news too: the broker may have restarted meanwhile.
      if (failing && !before?.failing)
        events.emitChange({...change, action: 'failing', state: 'failing', description: failingDescription(state)})
      else if (!failing && before?.failing && state.status === 'running')
        events.emitChange({...change, action: 'recovered', state: 'running'})
      else if (!failing && before?.failing) seen.set(key, {status: state.status, failing: true})
    }
  }
}
