import {connect} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'

import type {ExecResult} from '../core/agent.js'
import type {ContainerSpec} from '../core/types.js'

export interface ProbeContext {
  spec: ContainerSpec
  /** Address to reach published ports from the agent. */
  address: string
  exec(command: string[]): Promise<ExecResult>
  /**
   * Current container health and when it started; throws when the container stopped for good (or keeps
   * failing). `done`: a one-shot container (`restart: no`) that ended with code 0.
   */
  check(): Promise<ContainerCheck>
  signal?: AbortSignal
}

export interface ContainerCheck {
  health: string
  startedAt?: number
  /** False while the engine waits to restart it (its last start then says nothing). */
  running?: boolean
  done?: boolean
}

const POLL_MS = 20
/** How often a wait inspects the container to catch an exit: each inspect is engine work that competes with other starts. */
const CHECK_EVERY_MS = 500
/** Without a probe, a container is ready once it has run this long: one whose command fails at once is not. */
export const SETTLE_MS = 500
/** How long a container without a probe may take to run SETTLE_MS in one go (an engine restarting it counts). */
const SETTLE_TIMEOUT_MS = 60_000

/** Sends `send` and resolves true when the reply matches `expect` (any reply when absent). */
export function tcpProbe(
  host: string,
  port: number,
  send?: string,
  expect?: RegExp,
  timeoutMs = 1000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({host, port})
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
    socket.on('connect', () => {
      if (send === undefined && expect === undefined) done(true)
      else if (send !== undefined) socket.write(send)
    })
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (!expect || expect.test(reply)) done(true)
    })
  })
}

/**
 * Waits until the service in the container accepts connections, by the plan's
 * probe. A container that exits meanwhile fails at once. Without a probe it is
 * ready once it has run for SETTLE_MS; a one-shot container (`restart: no`)
 * only once it ended with code 0 (a job still running is not done, however
 * long it ran: what depends on it starts after it).
 */
export async function waitReady(ctx: ProbeContext): Promise<void> {
  const {readiness} = ctx.spec
  if (readiness.probe === 'none') return settle(ctx)
  const deadline = Date.now() + readiness.timeoutMs
  // The engine just started it: the first look for an exit can wait a round of checks.
  let checkedAt = Date.now()
  for (;;) {
    ctx.signal?.throwIfAborted()
    let state: ContainerCheck | undefined
    if (readiness.probe === 'healthcheck' || Date.now() - checkedAt >= CHECK_EVERY_MS) {
      state = await ctx.check()
      if (state.done) return
      checkedAt = Date.now()
    }
    let ready = false
    if (readiness.probe === 'tcp') {
      const mapping = ctx.spec.ports.find((p) => p.container === (readiness.port ?? ctx.spec.ports[0].container))!
      ready = await tcpProbe(
        ctx.address,
        mapping.host,
        readiness.send,
        readiness.expect ? new RegExp(readiness.expect) : undefined,
      )
    } else if (readiness.probe === 'exec') {
      ready = (await ctx.exec(readiness.command).catch(() => ({exitCode: -1, output: ''}))).exitCode === 0
    } else if (readiness.probe === 'healthcheck') {
      ready = state?.health === 'healthy'
    }
    if (ready) return
    if (Date.now() > deadline) {
      // A container that exited meanwhile says so, rather than a timeout.
      await ctx.check()
      throw new Error(
        `the service did not become ready within ${Math.round(readiness.timeoutMs / 1000)} s (${readiness.probe} probe)`,
      )
    }
    await sleep(readiness.probe === 'tcp' ? POLL_MS : 100, undefined, {signal: ctx.signal})
  }
}

async function settle(ctx: ProbeContext): Promise<void> {
  const timeoutMs = ctx.spec.readiness.timeoutMs || SETTLE_TIMEOUT_MS
  const oneShot = ctx.spec.restart === 'no'
  const since = Date.now()
  for (;;) {
    ctx.signal?.throwIfAborted()
    const state = await ctx.check()
    if (state.done) return
    const ranFor = state.running === false ? 0 : Date.now() - (state.startedAt ?? since)
    if (ranFor >= SETTLE_MS && !oneShot) return
    if (Date.now() - since > timeoutMs)
      throw new Error(
        oneShot
          ? `the one-shot container (restart: no) did not end within ${Math.round(timeoutMs / 1000)} s (readiness.timeout); one that keeps running wants another restart policy`
          : `the container did not keep running for ${SETTLE_MS} ms within ${Math.round(timeoutMs / 1000)} s`,
      )
    await sleep(oneShot ? 100 : Math.max(10, Math.min(100, SETTLE_MS - ranFor)), undefined, {signal: ctx.signal})
  }
}
