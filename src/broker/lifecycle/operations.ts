import {randomUUID} from 'node:crypto'

import {errorMessage, notFound, OsbError} from '../../core/errors.js'
import type {Operation, OperationKind} from '../../core/types.js'
import type {LastOperationResponse, OperationResponse, Reply, RequestMeta, ResponseBody} from '../osb-schema.js'
import {leaseLost, LeaseLostError, runFenced} from '../lease-fence.js'
import {isLive} from '../placement.js'
import {describeWait, isUnreachableFailure} from '../reachability.js'
import {DEFAULT_POLLING_SECONDS, type LifecycleContext, pollingSeconds} from './context.js'
import {platformDescription} from './platform-description.js'
import {withoutInstanceSecrets} from './redaction.js'
import {type Change, finishOperation} from './transition.js'

/** How an operation's work ended well: its description, the state it leaves, and what to start once that is recorded. */
export interface Outcome {
  description: string
  change?: Change
  afterwards?: () => void
}

/** An operation's work failed and leaves the state as `change` says (what began it, undone). */
export class Undone extends Error {
  constructor(
    cause: unknown,
    readonly change: Change,
  ) {
    super(errorMessage(cause), {cause})
  }
}

export type Work = (signal: AbortSignal) => Promise<Outcome>

/**
 * How a task here ended: its outcome written; left to the broker that took it
 * over (or stopped because this broker lost its lease); or not written (the store failed).
 */
type TaskEnd = 'recorded' | 'taken over' | 'unrecorded'

interface Task {
  operationId: string
  abort: AbortController
  done: Promise<TaskEnd>
}

/** A sync request waits for another broker's operation at most this long past the time its host may take to come back. */
const SETTLE_MARGIN_MS = 5 * 60_000
const FIRST_POLL_MS = 50
const LAST_POLL_MS = 2000

/**
 * Runs operations: each one's work in the background with a handle DELETE can
 * abort, its end recorded with the state it leaves; sync requests wait for it.
 */
export class OperationRunner {
  private readonly tasks = new Map<string, Task>()

  constructor(private readonly ctx: LifecycleContext) {}

  newOperation(
    kind: OperationKind,
    instanceId: string,
    bindingId: string | null,
    requestKey: string,
    meta: RequestMeta,
  ): Operation {
    const now = this.ctx.clock.now()
    return {
      id: `${kind}-${randomUUID()}`,
      kind,
      instanceId,
      bindingId,
      state: 'in progress',
      description: `${kind} in progress`,
      requestKey,
      originatingIdentity: meta.originatingIdentity,
      requestIdentity: meta.requestIdentity,
      createdAt: now,
      updatedAt: now,
    }
  }

  /** Runs an operation's work under `key` (`i:` instance, `b:` binding) and records how it ended. */
  start(key: string, op: Operation, work: Work): void {
    const {ctx} = this
    const abort = new AbortController()
    const done = (async (): Promise<TaskEnd> => {
      let ending: {state: 'succeeded' | 'failed'; description: string}
      let outcome: Outcome | undefined
      let change: Change | undefined
      try {
        const result = await runFenced(abort.signal, () => work(abort.signal))
        outcome = result
        change = result.change
        ending = {state: 'succeeded', description: result.description}
      } catch (error) {
        if (leaseLost(abort.signal)) {
          ctx.log.warn(
            `${op.kind} ${op.id} stopped here with nothing undone or recorded: ${errorMessage(abort.signal.reason)}`,
          )
          return 'taken over'
        }
        change = error instanceof Undone ? error.change : undefined
        // A failure may carry the container's last log lines: none of the instance's secrets go with them.
        const description = await withoutInstanceSecrets(
          ctx,
          op.instanceId,
          abort.signal.aborted
            ? `${op.kind} was cancelled: ${errorMessage(abort.signal.reason)}`
            : `${op.kind} failed: ${errorMessage(error)}`,
        ).catch(() => `${op.kind} failed (its reason is withheld: the instance's secrets could not be read)`)
        // The platform gets no engine internals (container ids, the engine's error text): those stay in this log.
        ending = {state: 'failed', description: platformDescription(op.kind, op.id, description)}
        ctx.log.warn(
          `${op.kind} ${op.id} of ${op.bindingId ? `binding ${op.bindingId}` : `instance ${op.instanceId}`} failed: ${description}`,
        )
      }
      if ((await finishOperation(ctx, op, ending, change)) === 'taken over') {
        ctx.log.warn(
          `${op.kind} ${op.id} was taken over by another broker while it ran here; the outcome here (${ending.state}) is not recorded`,
        )
        return 'taken over'
      }
      outcome?.afterwards?.()
      return 'recorded'
    })().catch((error): TaskEnd => {
      // The store went away under us (closed, connection lost): the operation stays in progress for resume() to finish.
      ctx.log.error(`could not record the end of ${op.kind} ${op.id}: ${errorMessage(error)}`)
      return 'unrecorded'
    })
    const task = {operationId: op.id, abort, done}
    this.tasks.set(key, task)
    void done.finally(() => {
      if (this.tasks.get(key) === task) this.tasks.delete(key)
    })
  }

  /** The operation running here under `key`, for DELETE to stop a provision. */
  running(key: string): {abort: AbortController; done: Promise<unknown>} | undefined {
    return this.tasks.get(key)
  }

  holds(operationId: string): boolean {
    return this.taskOf(operationId) !== undefined
  }

  private taskOf(operationId: string): Task | undefined {
    for (const task of this.tasks.values()) if (task.operationId === operationId) return task
    return undefined
  }

  /**
   * Waits for an operation to end, here or on another broker sharing the
   * store (polled with backoff), until `deadline`.
   */
  async settle(operationId: string, deadline: number): Promise<Operation> {
    const {store, clock} = this.ctx
    const local = this.taskOf(operationId)
    if (local && (await local.done) === 'unrecorded') {
      throw new OsbError(
        500,
        `the end of operation ${operationId} could not be recorded; the broker finishes it when it restarts`,
      )
    }
    for (let pause = FIRST_POLL_MS; ; pause = Math.min(2 * pause, LAST_POLL_MS)) {
      const op = await store.getOperation(operationId)
      if (!op) throw new OsbError(500, `operation ${operationId} is not recorded`)
      if (op.state !== 'in progress') return op
      const left = deadline - clock.now()
      if (left <= 0)
        throw new OsbError(
          500,
          `${op.kind} ${op.id} is still in progress; send accepts_incomplete=true and poll last_operation`,
        )
      await clock.sleep(Math.min(pause, left))
    }
  }

  /** A sync request answers with the outcome; a failure becomes a 500 with the operation's description. */
  async outcome<Body extends ResponseBody>(
    op: Operation,
    ok: () => Promise<Reply<Body>> | Reply<Body>,
  ): Promise<Reply<Body>> {
    const instance = this.holds(op.id) ? undefined : await this.ctx.store.getInstance(op.instanceId)
    const seconds = instance ? pollingSeconds(this.ctx.catalog, instance.planId) : DEFAULT_POLLING_SECONDS
    const settled = await this.settle(op.id, op.createdAt + seconds * 1000 + SETTLE_MARGIN_MS)
    if (settled.state === 'failed')
      throw new OsbError(isUnreachableFailure(settled.description) ? 503 : 500, settled.description)
    return ok()
  }

  /** 202 with the operation for an async request; the outcome for a sync one. */
  reply<Body extends ResponseBody>(
    op: Operation,
    meta: RequestMeta,
    ok: () => Promise<Reply<Body>> | Reply<Body>,
  ): Promise<Reply<Body | OperationResponse>> {
    if (meta.acceptsIncomplete) return Promise.resolve({status: 202, body: {operation: op.id}})
    return this.outcome(op, ok)
  }

  async lastOperation(
    instanceId: string,
    bindingId: string | undefined,
    operationId: string | undefined,
  ): Promise<Reply<LastOperationResponse>> {
    const {store} = this.ctx
    let op = operationId ? await store.getOperation(operationId) : undefined
    if (op && (op.instanceId !== instanceId || (op.bindingId ?? undefined) !== bindingId)) op = undefined
    op ??= await store.latestOperation(instanceId, bindingId)
    if (!op) {
      if (bindingId ? await store.getBinding(bindingId) : await store.getInstance(instanceId)) {
        return {status: 200, body: {state: 'succeeded', description: 'no operation is recorded'}}
      }
      throw notFound(`${bindingId ? `binding ${bindingId}` : `instance ${instanceId}`} is unknown`)
    }
    const failedChange = op.state === 'failed' && (op.kind === 'update' || op.kind === 'deprovision')
    // A wait's age is told as of now, not as of when the operation began.
    const waitedFor = op.state === 'in progress' ? await this.hostWaitedFor(op.instanceId) : undefined
    return {
      status: 200,
      body: {
        state: op.state,
        description: waitedFor ? `${op.kind} ${describeWait(waitedFor, this.ctx.clock.now())}` : op.description,
        ...(failedChange ? {instance_usable: true, update_repeatable: true} : {}),
      },
    }
  }

  private async hostWaitedFor(instanceId: string) {
    const instance = await this.ctx.store.getInstance(instanceId)
    const host = instance && (await this.ctx.store.getHost(instance.hostId))
    return host && !isLive(host, this.ctx.keepaliveMs, this.ctx.clock.now()) ? host : undefined
  }

  /**
   * Stops every operation running here, without cleanup and without recording
   * how it ended: this broker's lease ran out, so another broker may own them
   * now. Resolves when they have all stopped, with how many there were.
   */
  async abandon(reason: string): Promise<number> {
    const tasks = [...this.tasks.values()]
    for (const task of tasks) task.abort.abort(new LeaseLostError(reason))
    await Promise.allSettled(tasks.map((t) => t.done))
    return tasks.length
  }

  /** Resolves when every running operation (and `more`) has ended, or after `timeoutMs`; for a graceful stop. */
  async drain(timeoutMs: number, more: Promise<unknown>[] = []): Promise<void> {
    const stop = new AbortController()
    const all = Promise.allSettled([...[...this.tasks.values()].map((t) => t.done), ...more])
    const timeout = this.ctx.clock.sleep(timeoutMs, stop.signal).catch(() => undefined)
    await Promise.race([all, timeout])
    stop.abort()
  }
}
