import {randomUUID} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import {BrokerRequestError, type CatalogService} from '../../client/broker-client.js'
import type {BindingView, InstanceDetail} from '../../core/admin.js'
import {BINDING_OWNER_KEY, BINDING_TTL_KEY} from '../../core/binding-expiry.js'
import {DbrokerError, UsageError} from '../../core/errors.js'
import {formatRemaining} from '../../core/format.js'
import {type CliBroker, canLookUp, type Progress} from './broker.js'
import {catalogNames, findService, planByRef} from './catalog.js'
import {
  instanceByRef,
  nearNames,
  labelOf,
  NameTakenError,
  provisionInstance,
  settledInstance,
  type WaitOptions,
} from './instances.js'

export interface BindOptions {
  /** The plan a new instance gets; an existing instance must be on it. */
  plan?: string
  /** The instance to reuse or make [default: the service name]. */
  name?: string
  /** The broker unbinds the new binding this many seconds after it made it. */
  ttlSeconds?: number
  /** Answer the caller's own unexpired binding of the instance instead of a new one, when there is one. */
  reuse?: boolean
  progress?: Progress
  wait?: Omit<WaitOptions, 'progress'>
}

export interface BindResult {
  instance: {id: string; name: string | null; service: string; plan: string; provisioned: boolean}
  binding: {id: string; reused: boolean; expiresAt: number | null}
  credentials: Record<string, unknown>
}

/** Who made a binding, as the CLI records it in the binding's context: the OS user on this machine. */
export const bindingOwner = (): string => `${userInfo().username}@${hostname()}`

/** `30s`, `10m`, `1h`, `2d` -> seconds; anything else is a usage error naming the flag. */
export function parseTtl(text: string, flag = '--ttl'): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim())
  const seconds = match ? Number(match[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[match[2] as 's' | 'm' | 'h' | 'd'] : 0
  if (!seconds)
    throw new UsageError(`${flag} ${text} is not a duration`, 'give a number with s, m, h or d: 30s, 10m, 1h')
  return seconds
}

/**
 * A binding worth handing out again: the caller's, bound, and living as long as asked.
 * With a ttl: one that expires, with at least half that ttl left (so `--reuse --ttl 8h`
 * gives credentials good for 4 h at least; a binding that never expires is not what
 * was asked for). Without: any that is not about to expire (a minute left, or half its ttl).
 */
export function reusableBinding(
  bindings: BindingView[],
  owner: string,
  now: number,
  ttlSeconds?: number,
): BindingView | undefined {
  const usable = ownBindings(bindings, owner).filter((b) => {
    if (b.expiresAt === null || b.expiresAt === undefined) return ttlSeconds === undefined
    const left = b.expiresAt - now
    return ttlSeconds === undefined
      ? left >= Math.min(60_000, (b.expiresAt - b.createdAt) / 2)
      : left >= (ttlSeconds * 1000) / 2
  })
  // The one that lives longest: never-expiring first.
  return usable.sort((a, b) => (b.expiresAt ?? Infinity) - (a.expiresAt ?? Infinity))[0]
}

const ownBindings = (bindings: BindingView[], owner: string) =>
  bindings.filter((b) => b.state === 'bound' && b.credentials && b.context?.[BINDING_OWNER_KEY] === owner)

/** `expires in 5h12m` / `never expires`, for what bind says on stderr. */
const lifetime = (b: Pick<BindingView, 'expiresAt'>, now: number) =>
  b.expiresAt ? `expires in ${formatRemaining(Math.max(0, b.expiresAt - now))}` : 'never expires'

type Target = {id: string; name: string | null; serviceId: string; planId: string; provisioned: boolean}

/**
 * `dbroker bind`'s decision: `ref` is an existing instance (id or name), or a
 * service — then the instance named `name` (default: the service name) is
 * reused, or provisioned first. An instance still being provisioned is waited for.
 */
export async function bindService(client: CliBroker, ref: string, options: BindOptions = {}): Promise<BindResult> {
  const services = await client.catalog()
  const target = await bindTarget(client, services, ref, options)
  const names = catalogNames(services, target.serviceId, target.planId)
  const instance = {id: target.id, name: target.name, ...names, provisioned: target.provisioned}
  const owner = bindingOwner()
  if (options.reuse) {
    if (!canLookUp(client))
      throw new UsageError(
        '--reuse finds your earlier binding through the admin API',
        'add admin credentials to the context',
      )
    const detail = await client.instance(target.id, {credentials: true})
    const now = Date.now()
    const found = reusableBinding(detail.bindings, owner, now, options.ttlSeconds)
    const label = target.name ?? target.id
    // The one that comes closest: of those that expire, the one with the most time left.
    const nearest = ownBindings(detail.bindings, owner).sort(
      (x, y) => (y.expiresAt ?? -Infinity) - (x.expiresAt ?? -Infinity),
    )[0]
    if (!found && nearest && options.ttlSeconds)
      // Say why the earlier one is not handed out: it keeps its own ttl, and expires (or stays) on its own.
      options.progress?.(
        `your binding ${nearest.id} of ${label} ${lifetime(nearest, now)}, not what --ttl ${formatRemaining(options.ttlSeconds * 1000)} asks: making a new one`,
      )
    if (found) {
      options.progress?.(`reusing binding ${found.id} of ${label} (${lifetime(found, now)})`)
      return {
        instance,
        binding: {id: found.id, reused: true, expiresAt: found.expiresAt ?? null},
        credentials: found.credentials!,
      }
    }
  }
  const bindingId = randomUUID()
  options.progress?.(`binding ${target.name ?? target.id}`)
  const started = Date.now()
  let reply
  try {
    reply = await client.bind(target.id, bindingId, {
      service_id: target.serviceId,
      plan_id: target.planId,
      context: {
        platform: 'dbroker-cli',
        [BINDING_OWNER_KEY]: owner,
        ...(options.ttlSeconds ? {[BINDING_TTL_KEY]: options.ttlSeconds} : {}),
      },
    })
  } catch (error) {
    if (error instanceof BrokerRequestError && error.status === 422) {
      throw new DbrokerError(
        `cannot bind ${target.name ?? target.id} now: ${error.message}`,
        'wait for its current operation, then try again',
      )
    }
    throw error
  }
  return {
    instance,
    binding: {id: bindingId, reused: false, expiresAt: options.ttlSeconds ? started + options.ttlSeconds * 1000 : null},
    credentials: (reply.body.credentials ?? {}) as Record<string, unknown>,
  }
}

async function bindTarget(
  client: CliBroker,
  services: CatalogService[],
  ref: string,
  options: BindOptions,
): Promise<Target> {
  const service = findService(services, ref)
  const lookUp = canLookUp(client)
  if (!service && !lookUp) {
    throw new UsageError(
      `${ref} is not a service of the catalog, and without admin credentials instances can't be looked up by name`,
      'pass a service name, or add admin credentials to the context',
    )
  }
  if (!service && options.name)
    throw new UsageError(
      `--name picks the instance of a service, and ${ref} is not a service of the catalog`,
      `bind it as \`dbroker bind ${ref}\``,
    )
  // A plan the service doesn't have is the user's mistake, whatever else is found.
  const plan = service && planByRef(service, options.plan)
  const name = service ? (options.name ?? service.name) : ref
  const found = lookUp ? await client.findInstance(name) : undefined
  if (found) return reuse(client, services, found, service, options)
  if (!service || !plan) {
    const instances = lookUp ? (await client.instances({stats: false})).flatMap((i) => (i.name ? [i.name] : [])) : []
    const near = nearNames(ref, [...services.map((s) => s.name), ...instances])
    throw new DbrokerError(
      `no instance and no service is called ${ref}`,
      `${near.length > 0 ? `did you mean ${near.join(', ')}? ` : ''}services: ${services.map((s) => s.name).join(', ')}; instances: \`dbroker instances\``,
    )
  }
  if (!lookUp)
    options.progress?.('no admin credentials: a new instance is provisioned (it cannot be found by name later)')
  try {
    const made = await provisionInstance(client, {
      service,
      plan,
      name: lookUp ? name : undefined,
      progress: options.progress,
      wait: options.wait,
    })
    return {id: made.id, name: made.name, serviceId: service.id, planId: plan.id, provisioned: true}
  } catch (error) {
    // Another bind made it a moment before us: "get me one" means use that one.
    if (!(error instanceof NameTakenError)) throw error
    return reuse(client, services, await instanceByRef(client, error.existingId), service, options)
  }
}

async function reuse(
  client: CliBroker,
  services: CatalogService[],
  found: InstanceDetail,
  service: CatalogService | undefined,
  options: BindOptions,
): Promise<Target> {
  const {service: serviceName, plan: planName} = catalogNames(services, found.serviceId, found.planId)
  if (service && found.serviceId !== service.id) {
    throw new DbrokerError(
      `the instance named ${found.name ?? found.id} is a ${serviceName} instance, not ${service.name}`,
      'pick another name with --name',
    )
  }
  if (options.plan) {
    const ofInstance = services.find((s) => s.id === found.serviceId)
    const wanted = ofInstance ? planByRef(ofInstance, options.plan) : undefined
    if (!wanted || wanted.id !== found.planId) {
      throw new DbrokerError(
        `${labelOf(found)} is on plan ${planName}, not ${options.plan}`,
        `bind it without --plan, or make a ${options.plan} one: \`dbroker bind ${serviceName} --plan ${options.plan} --name NEW-NAME\``,
      )
    }
  }
  const ready = await settledInstance(client, found, {progress: options.progress, ...options.wait})
  return {id: ready.id, name: ready.name, serviceId: ready.serviceId, planId: ready.planId, provisioned: false}
}

export interface UnbindResult {
  instance: string
  unbound: string[]
}

/**
 * Removes one binding (by id), every binding (`all`), or the only one; a
 * binding the instance doesn't have is an error, never a silent success.
 */
export async function unbindBindings(
  client: CliBroker,
  ref: string,
  options: {binding?: string; all?: boolean; progress?: Progress},
): Promise<UnbindResult> {
  const instance = await instanceByRef(client, ref)
  const bound = instance.bindings.map((b) => b.id)
  const listed = `${bound.slice(0, 3).join(', ')}${bound.length > 3 ? ', ...' : ''}`
  let targets: string[]
  if (options.binding) {
    if (!bound.includes(options.binding)) {
      throw new DbrokerError(
        `${labelOf(instance)} has no binding ${options.binding}`,
        bound.length ? `its bindings: ${listed}` : 'it has no bindings',
      )
    }
    targets = [options.binding]
  } else if (options.all || bound.length <= 1) targets = bound
  else throw new UsageError(`${ref} has ${bound.length} bindings`, `name one (${listed}) or pass --all`)
  for (const id of targets) {
    options.progress?.(`unbinding ${id}`)
    const reply = await client.unbind(instance.id, id, {serviceId: instance.serviceId, planId: instance.planId})
    if (reply.status === 410) throw new DbrokerError(`binding ${id} of ${labelOf(instance)} was already gone`)
  }
  return {instance: instance.id, unbound: targets}
}
