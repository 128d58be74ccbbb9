import {errorMessage} from '../../core/errors.js'
import type {Binding, Host, ServiceInstance} from '../../core/types.js'
import {bindingUser} from '../credentials.js'
import type {HostWait} from './host-wait.js'
import {type LifecycleContext, planOf} from './context.js'
import {checkBindAnswer, execTarget, kindOf, lifecycleDocument, runExecutable, usesExecutables} from './plan-kinds.js'

/** Users kept ready in each per-binding instance, for fast binds. */
const SPARE_USERS = 2

/** An unbind hook's exit status for: the user is gone from the service's persisted state, restart the container to finish. */
export const HOOK_EXIT_RESTART_TO_FINISH = 75
/** The names dbroker gives binding and spare users (credentials.ts' randomIdentifier('b')): the only ones a prune drops. */
const BINDING_USER_NAME = /^b[a-z0-9]{12}$/
/** How long a bind or spare fill on another broker may take from its hook's end to its row, as far as a prune waits. */
const ROW_AFTER_HOOK_MS = 1000
/** How long a container restarted to finish an unbind gets to answer its hooks again. */
const RESTART_ANSWERS_MS = 20_000

export interface User {
  username: string
  password: string
}

/**
 * The users a per-binding plan gives each binding in the service itself, made
 * and dropped by the image's bind/unbind hooks; a small pool made ahead of
 * time; and their replay into a container convergence re-made.
 */
export class BindingUsers {
  private readonly filling = new Map<string, Promise<void>>()
  private readonly pruning = new Map<string, Promise<string[]>>()

  constructor(
    private readonly ctx: LifecycleContext,
    private readonly hosts: HostWait,
  ) {}

  /** Whether each binding of this instance gets its own user: the one place that decides it. */
  perBinding(instance: ServiceInstance): boolean {
    const kind = kindOf(this.ctx.catalog, instance)
    if (kind.type !== 'dedicated') return usesExecutables(kind)
    const {bind, unbind} = instance.spec.hooks
    return (
      Boolean(bind && unbind) &&
      this.ctx.catalog.plan(instance.planId)?.plan.container?.binding_credentials === 'per-binding'
    )
  }

  /** Creates (or updates: hooks are idempotent) a user; false when the plan has no per-binding users. */
  async create(host: Host, instance: ServiceInstance, user: User): Promise<boolean> {
    if (!this.perBinding(instance)) return false
    const kind = kindOf(this.ctx.catalog, instance)
    if (usesExecutables(kind)) {
      // The JSON form: a user confined to the instance's own database (or namespace) in a container of many.
      const target = execTarget(instance, kind)
      const document = lifecycleDocument(instance, {username: user.username, password: user.password})
      const {answer} = await runExecutable(this.ctx.agentFor(host), target, 'bind', document)
      checkBindAnswer(answer, instance, user, kind)
      return true
    }
    await this.runHook(host, instance, instance.spec.hooks.bind!, {
      BIND_USERNAME: user.username,
      BIND_PASSWORD: user.password,
    })
    return true
  }

  /** Drops a user and what it may still hold open; false when the plan has no per-binding users. */
  async revoke(host: Host, instance: ServiceInstance, username: string): Promise<boolean> {
    if (!this.perBinding(instance)) return false
    const kind = kindOf(this.ctx.catalog, instance)
    if (usesExecutables(kind)) return this.revokeInShared(host, instance, username)
    const exitCode = await this.runHook(host, instance, instance.spec.hooks.unbind!, {BIND_USERNAME: username}, [
      HOOK_EXIT_RESTART_TO_FINISH,
    ])
    if (exitCode === HOOK_EXIT_RESTART_TO_FINISH) {
      // A tenant's script the server cannot stop holds it (redis' UNKILLABLE): only a restart of its own container ends it.
      this.ctx.log.warn(`restarting the container of instance ${instance.id} to finish the unbind of user ${username}`)
      await this.ctx.agentFor(host).restart(instance.id)
      // Done once the service lists its users again without this one (the next hook then finds it up, too).
      for (let waited = 0; waited < RESTART_ANSWERS_MS; waited += 250) {
        const users = await this.listUsers(host, instance).catch(() => undefined)
        if (users?.includes(username))
          throw new Error(`user ${username} is still in instance ${instance.id} after its container restarted`)
        if (users) break
        await this.ctx.clock.sleep(250)
      }
    }
    return true
  }

  /** unbind --json in a shared or adopted container; a restart it asks for is of the shared container (an adopted one is not dbroker's). */
  private async revokeInShared(host: Host, instance: ServiceInstance, username: string): Promise<boolean> {
    const kind = kindOf(this.ctx.catalog, instance)
    const document = lifecycleDocument(instance, {username})
    const agent = this.ctx.agentFor(host)
    const {exitCode} = await runExecutable(agent, execTarget(instance, kind), 'unbind', document, [
      HOOK_EXIT_RESTART_TO_FINISH,
    ])
    if (exitCode !== HOOK_EXIT_RESTART_TO_FINISH) return true
    if (kind.type !== 'shared')
      throw new Error(
        `unbinding ${username} needs a restart of container ${instance.spec.name}, which dbroker did not make`,
      )
    this.ctx.log.warn(`restarting shared container ${instance.spec.name} to finish the unbind of user ${username}`)
    await agent.restart(instance.spec.instanceId)
    return true
  }

  /** The binding-named users the service holds, by its unbind hook's list mode; undefined when it does not answer one. */
  private async listUsers(host: Host, instance: ServiceInstance): Promise<string[] | undefined> {
    // A container of many lists every instance's users: this instance can't tell its strays from another's users.
    if (kindOf(this.ctx.catalog, instance).type !== 'dedicated') return undefined
    const listed = await this.ctx.agentFor(host).exec(instance.id, instance.spec.hooks.unbind!, {BIND_LIST_USERS: '1'})
    if (listed.exitCode !== 0) return undefined
    return listed.output.split('\n').filter((line) => BINDING_USER_NAME.test(line))
  }

  /**
   * Drops the users an instance's service holds under dbroker's names that are neither a binding's nor a spare (a crash
   * between a hook and its row leaves one), so no user outlives the broker's record. Needs an unbind hook that lists
   * them (BIND_LIST_USERS=1); with one that does not, nothing is dropped. Never throws; returns the names dropped.
   */
  prune(instanceId: string): Promise<string[]> {
    const running = this.pruning.get(instanceId)
    if (running) return running
    const {store, log} = this.ctx
    const work = (async () => {
      const instance = await store.getInstance(instanceId)
      const host = instance && (await store.getHost(instance.hostId))
      if (!instance || !host || instance.state !== 'ready' || !this.perBinding(instance) || !this.hosts.live(host))
        return []
      // A fill here lands its rows first; new fills wait for this prune (fillSpares checks `pruning`).
      await this.filling.get(instanceId)
      const names = await this.listUsers(host, instance)
      if (!names) log.debug(`instance ${instanceId}: its unbind hook lists no users; not pruned`)
      if (!names?.length) return []
      await this.ctx.clock.sleep(ROW_AFTER_HOOK_MS)
      const known = new Set([
        ...(await store.listBindings(instanceId)).map((b) => b.credentials.username),
        ...(await store.spareUsers(instanceId)).map((u) => u.username),
      ])
      const strays = names.filter((name) => !known.has(name))
      for (const name of strays) await this.revoke(host, instance, name)
      if (strays.length > 0)
        log.info(
          `instance ${instanceId}: dropped ${strays.length} user(s) no binding or spare holds: ${strays.join(', ')}`,
        )
      return strays
    })()
      .catch((error) => {
        log.warn(`instance ${instanceId}: users no binding holds were not pruned: ${errorMessage(error)}`)
        return []
      })
      .finally(() => this.pruning.delete(instanceId))
    this.pruning.set(instanceId, work)
    return work
  }

  /** A failed bind leaves no live user that nobody tracks: the service drops it (best effort, the hook is idempotent). */
  async forget(host: Host, instance: ServiceInstance, binding: Binding): Promise<void> {
    await this.revoke(host, instance, binding.credentials.username).catch((error) =>
      this.ctx.log.warn(
        `user of failed binding ${binding.id} may remain in instance ${instance.id}: ${errorMessage(error)}`,
      ),
    )
  }

  /** A user made ahead of time, or undefined when there is none (or the plan has no per-binding users). */
  async claimSpare(instance: ServiceInstance): Promise<User | undefined> {
    return this.perBinding(instance) ? this.ctx.store.claimSpareUser(instance.id) : undefined
  }

  /** Hands an unused spare back to the pool. */
  async returnSpare(instanceId: string, user: User): Promise<void> {
    await this.ctx.store.addSpareUser(
      instanceId,
      {username: user.username, password: user.password},
      this.ctx.clock.now(),
    )
  }

  /**
   * Keeps SPARE_USERS users made ahead in a per-binding instance's service, so
   * a bind hands one out at store speed instead of waiting ~100 ms for an exec.
   * One fill per instance at a time; failures only delay binds, never fail them.
   */
  fillSpares(instanceId: string): Promise<void> {
    const running = this.filling.get(instanceId)
    if (running) return running
    const {store, log} = this.ctx
    const work = (async () => {
      // After what asked for the fill has answered: its reply is written in the promise callbacks that run first.
      await new Promise((resolve) => setImmediate(resolve))
      for (;;) {
        const instance = await store.getInstance(instanceId)
        if (!instance || instance.state !== 'ready' || !this.perBinding(instance) || this.pruning.has(instanceId))
          return
        if ((await store.spareUsers(instanceId)).length >= SPARE_USERS) return
        const host = await store.getHost(instance.hostId)
        if (!host || !this.hosts.live(host)) return
        // Not beside a burst of provisions on the host: each exec would slow their starts. Then look again.
        if (!this.ctx.activity.quiet(host.id)) {
          await this.ctx.activity.whenIdle(host.id)
          continue
        }
        const user = bindingUser(instance, planOf(this.ctx.catalog, instance).plan)
        await this.create(host, instance, user)
        await store.addSpareUser(instanceId, user, this.ctx.clock.now())
        // A deprovision that finished meanwhile took the instance's spares; take this one too.
        if (!(await store.getInstance(instanceId))) await store.deleteInstance(instanceId)
      }
    })()
      .catch((error) => log.debug(`spare users of instance ${instanceId} not made: ${errorMessage(error)}`))
      .finally(() => this.filling.delete(instanceId))
    this.filling.set(instanceId, work)
    return work
  }

  /** The fills running now, for a graceful stop. */
  pending(): Promise<unknown>[] {
    return [...this.filling.values(), ...this.pruning.values()]
  }

  /**
   * Recreates the per-binding users of an instance whose container
   * convergence (re)made: they live in its volume, which may be new (a wiped
   * host, a lost volume). Bind hooks are idempotent, so a user that survived
   * is left as it was. Never throws; returns how many bindings were restored.
   */
  async replay(instanceId: string, hostId?: string): Promise<number> {
    const {store, log} = this.ctx
    try {
      const instance = await store.getInstance(instanceId)
      if (!instance || (hostId && instance.hostId !== hostId) || !['ready', 'updating'].includes(instance.state))
        return 0
      const bindings = (await store.listBindings(instanceId)).filter((b) => b.state === 'bound')
      const host = await store.getHost(instance.hostId)
      if (!host || !this.perBinding(instance)) return 0
      // Spare users lived in the old volume too: make them again, or a bind would hand out a user that no longer exists.
      for (const spare of await store.spareUsers(instanceId))
        await this.create(host, instance, spare).catch(() => undefined)
      let restored = 0
      for (const binding of bindings) {
        try {
          await this.create(host, instance, binding.credentials)
          // An unbind that began meanwhile may have revoked the user before this re-made it: revoke it again.
          if ((await store.getBinding(binding.id))?.state !== 'bound') {
            await this.revoke(host, instance, binding.credentials.username)
            continue
          }
          restored++
        } catch (error) {
          log.warn(
            `the user of binding ${binding.id} of instance ${instanceId} could not be restored: ${errorMessage(error)}`,
          )
        }
      }
      if (restored > 0)
        log.info(
          `restored the users of ${restored} of ${bindings.length} binding(s) of instance ${instanceId} in its new container`,
        )
      return restored
    } catch (error) {
      log.warn(`the bindings of instance ${instanceId} could not be restored: ${errorMessage(error)}`)
      return 0
    }
  }

  /** Runs a hook; an exit status other than 0 and `accepted` fails with the hook's last lines (secrets masked). */
  private async runHook(
    host: Host,
    instance: ServiceInstance,
    command: string[],
    env: Record<string, string>,
    accepted: number[] = [],
  ): Promise<number> {
    const result = await this.ctx.agentFor(host).exec(instance.id, command, env)
    if (result.exitCode !== 0 && !accepted.includes(result.exitCode)) {
      let output = result.output.trim().split('\n').slice(-3).join(' ')
      for (const secret of Object.values(env)) if (secret.length >= 8) output = output.split(secret).join('********')
      throw new Error(`${command.join(' ')} exited with ${result.exitCode}${output ? `: ${output}` : ''}`)
    }
    return result.exitCode
  }
}
