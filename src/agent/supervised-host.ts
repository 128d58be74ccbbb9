import type {Logger} from '../core/log.js'
import {ConvergenceLoop} from './convergence-loop.js'
import type {DockerAgent} from './docker-agent.js'
import {GuardedAgent} from './guarded-agent.js'
import {Supervisor} from './supervisor.js'

export interface SupervisedHost {
  /** What the broker's calls and the agent API go through. */
  agent: GuardedAgent
  loop: ConvergenceLoop
  supervisor: Supervisor
  /** Start supervising the installation's containers (again, when it changes). */
  watch(installation: string): void
  stop(): Promise<void>
}

/**
 * One host's agent as `up` and `agent start` both run it: the engine behind
 * the guard, one convergence loop, and the supervisor that follows the
 * engine's events and feeds the loop.
 */
export function superviseHost(docker: DockerAgent, log: Logger): SupervisedHost {
  const agent = new GuardedAgent(docker)
  const loop: ConvergenceLoop = new ConvergenceLoop({agent, log, held: (id) => supervisor.held(id)})
  const supervisor = new Supervisor({engine: docker.engine, agent, loop, log})
  agent.describeWith(supervisor)
  return {
    agent,
    loop,
    supervisor,
    watch: (installation) => supervisor.watch(installation),
    async stop() {
      await supervisor.stop()
      await loop.stop()
    },
  }
}
