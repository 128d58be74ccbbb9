import {setTimeout as sleep} from 'node:timers/promises'

import {type ContainerInspectInfo, type Engine, inspectContainer} from '../docker/engine.js'

/**
 * The engine's restart policy starts a dead container again after a delay of 100 ms, doubled while the container
 * keeps dying within 10 s of its start (up to a minute; a start through the API begins again at 100 ms). Delays
 * up to this one are left to the engine: it is about as quick as a restart would be, and one still waiting after
 * it waits at least twice as long, so a restart sent then reaches the engine long before its own start would.
 */
export const ENGINE_SHORT_DELAY_MS = 800
/** How late after that delay the engine's timer may fire and still count as on time (its die handling, a busy host). */
const TIMER_SLACK_MS = 150
const LOOK_EVERY_MS = 40

/**
 * The container once the engine has acted on its death: started it again (or let it stay stopped), or — still
 * `Restarting` ENGINE_SHORT_DELAY_MS after the death — waiting out a delay of at least twice that. A restart is
 * safe only then: while the engine starts a container it holds it, so a restart sent in that window lands its
 * stop on the new process, a second outage that lasts the stop's whole grace when that process ignores SIGTERM
 * (a shell entrypoint as PID 1 does). An inspect waits while the engine holds the container, so a look never
 * sees a start half done.
 */
export async function untilEngineActs(
  engine: Engine,
  name: string,
  signal?: AbortSignal,
): Promise<ContainerInspectInfo | undefined> {
  for (;;) {
    const info = await inspectContainer(engine, name)
    if (!info?.State.Restarting) return info
    const diedAt = Date.parse(info.State.FinishedAt)
    const waited = Number.isNaN(diedAt) ? Number.POSITIVE_INFINITY : Date.now() - diedAt
    if (waited >= ENGINE_SHORT_DELAY_MS + TIMER_SLACK_MS) return info
    await sleep(Math.min(LOOK_EVERY_MS, ENGINE_SHORT_DELAY_MS + TIMER_SLACK_MS - waited), undefined, {signal})
  }
}
