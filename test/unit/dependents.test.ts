import {describe, expect, it} from 'vitest'

import type {ConvergenceLoop} from '../../src/agent/convergence-loop.js'
import {Dependents} from '../../src/agent/dependents.js'
import type {GuardedAgent} from '../../src/agent/guarded-agent.js'
import {createLogger} from '../../src/core/log.js'
import type {Engine} from '../../src/docker/engine.js'
import {containerSpec} from '../helpers/fake-agent.js'
import {until} from '../helpers/until.js'

const db = containerSpec('i-db', {restart: 'always'})
const app = containerSpec('i-app', {restart: 'always', dependsOn: ['i-db']})

/** The engine's view of the two containers, and an agent at its boundary that records what it is asked. */
function world(appStartedAt: number) {
  const running = new Map([
    ['i-db', false],
    ['i-app', true],
  ])
  const calls: string[] = []
  let markReady!: () => void
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const engine = {
    getContainer: (name: string) => ({
      inspect: async () => ({State: {Running: running.get(name), StartedAt: new Date(appStartedAt).toISOString()}}),
    }),
  } as unknown as Engine
  const agent = {
    stop: async (id: string) => {
      calls.push(`stop ${id}`)
      running.set(id, false)
    },
    ready: async (spec: {instanceId: string}) => {
      calls.push(`ready? ${spec.instanceId}`)
      await ready
    },
    idle: async () => undefined,
    apply: async (spec: {instanceId: string}) => {
      calls.push(`apply ${spec.instanceId}`)
      running.set(spec.instanceId, true)
    },
    restart: async (id: string, options: {after?: string[]}) => {
      calls.push(`restart ${id} after ${options.after?.join(',')}`)
    },
  } as unknown as GuardedAgent
  const loop = {latest: {specs: [db, app], asOf: 0}, kick: () => calls.push('kick')} as unknown as ConvergenceLoop
  const dependents = new Dependents({
    engine,
    agent,
    loop,
    log: createLogger('silent'),
    signal: new AbortController().signal,
  })
  return {dependents, calls, markReady}
}

describe("a container's dependents when it fails and comes back", () => {
  it('stop when it dies, are held meanwhile, and start only once it is ready again', async () => {
    const {dependents, calls, markReady} = world(0)
    dependents.down('i-db')
    expect(calls).toEqual(['stop i-app'])
    expect(dependents.held('i-app')).toBe(true)
    dependents.up('i-db', Date.now())
    await until('the dependency is asked for', () => calls.includes('ready? i-db'))
    expect(calls).not.toContain('apply i-app')
    markReady()
    await until('the dependent is started', () => calls.includes('apply i-app'))
    expect(dependents.held('i-app')).toBe(false)
    expect(calls).toEqual(['stop i-app', 'ready? i-db', 'apply i-app'])
  })

  it('one that ran on since before the start (the engine restarted it unseen) is restarted once it is ready', async () => {
    const {dependents, calls, markReady} = world(Date.now() - 60_000)
    dependents.up('i-db', Date.now())
    markReady()
    await until('the dependent is restarted', () => calls.includes('restart i-app after i-db'))
    expect(calls).toEqual(['ready? i-db', 'restart i-app after i-db'])
  })
})
