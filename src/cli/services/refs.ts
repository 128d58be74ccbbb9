// How the CLI finds what an operator names: an instance by id, name or id prefix (with near names when none
// matches), or a deployed container as <deployment>/<container>.
import type {BrokerClient} from '../../client/broker-client.js'
import {deployedContainers} from '../../client/deployments-client.js'
import type {InstanceDetail} from '../../core/admin.js'
import type {DeployedContainerView} from '../../core/deployments.js'
import {DbrokerError} from '../../core/errors.js'
import {editDistance} from '../hooks/command-not-found.js'
import type {CliBroker} from './broker.js'

export const labelOf = (instance: {id: string; name: string | null}) =>
  instance.name ? `${instance.name} (${instance.id})` : instance.id

/** The instance with this id or name, or the one whose id starts with it (as docker does); a clear error when there is none or several. */
export async function instanceByRef(client: CliBroker, ref: string): Promise<InstanceDetail> {
  const instance = await client.findInstance(ref)
  if (instance) return instance
  const listed = ref ? await client.instances({stats: false}) : []
  const matches = listed.filter((i) => i.id.startsWith(ref))
  if (matches.length > 1) {
    throw new DbrokerError(
      `${ref} is the start of ${matches.length} instance ids: ${matches.map(labelOf).join(', ')}`,
      'type more of the id, or use the name',
    )
  }
  const only = matches.length === 1 ? await client.findInstance(matches[0].id) : undefined
  if (!only) {
    throw new NoSuchInstanceError(
      ref,
      nearNames(
        ref,
        listed.flatMap((i) => (i.name ? [i.name] : [])),
      ),
    )
  }
  return only
}

class NoSuchInstanceError extends DbrokerError {
  constructor(ref: string, near: string[]) {
    super(
      `no instance has the id or name ${ref}`,
      near.length > 0
        ? `did you mean ${near.join(', ')}? (list them with \`dbroker instances\`)`
        : 'list them with `dbroker instances`',
    )
  }
}

/** The names a mistyped `ref` may have meant: within two edits (of a `<deployment>/<container>`'s last part too), or one inside the other; nearest first, at most five. */
export function nearNames(ref: string, names: string[]): string[] {
  const scored = names.flatMap((name) => {
    const distance = Math.min(editDistance(ref, name), editDistance(ref, name.split('/').pop()!))
    return distance <= 2 || name.includes(ref) || ref.includes(name) ? [{name, distance}] : []
  })
  scored.sort((a, b) => a.distance - b.distance || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return [...new Set(scored.map((s) => s.name))].slice(0, 5)
}

/** What logs and restart act on: a service instance, or a container of a manifest deploy. */
export interface ContainerTarget {
  id: string
  /** As `dbroker instances` and `top` show it: the instance's name, or `<deployment>/<container>`. */
  label: string
  /** An instance of a shared or existing plan: its container serves others too (`tenants` besides it). */
  shared?: {kind: 'shared' | 'existing'; tenants: number}
}

/** What a restart of a shared or adopted container means for the others, in words. */
export function sharedRestartWarning(target: ContainerTarget): string | undefined {
  const {shared} = target
  if (!shared) return undefined
  const whose = shared.kind === 'shared' ? 'a shared container' : "the operator's adopted container"
  const others = shared.tenants > 0 ? ` and ${shared.tenants} other instance(s)` : ' and any other user of it'
  return `${target.label} lives in ${whose}: restarting it interrupts ${target.label}${others}`
}

/** What a NAME|ID argument names: a service instance in detail, or a container of a manifest deploy. */
export type ResolvedRef =
  | {kind: 'instance'; instance: InstanceDetail; target: ContainerTarget}
  | {kind: 'deployed'; container: DeployedContainerView; target: ContainerTarget}

/** A deployed container as `dbroker instances` and `top` name it. */
export const deployedLabel = (c: {deployment?: string; plan: string; name: string | null}) =>
  `${c.deployment ?? c.plan}/${c.name}`

/**
 * An instance as instanceByRef finds it, else a deployed container by its id,
 * `<deployment>/<container>` or its container name alone when only one
 * deployment has it; the error lists the names that come near.
 */
export async function resolveRef(client: CliBroker & Pick<BrokerClient, 'fetch'>, ref: string): Promise<ResolvedRef> {
  try {
    const instance = await instanceByRef(client, ref)
    const shared =
      instance.kind === 'shared' || instance.kind === 'existing'
        ? {kind: instance.kind, tenants: instance.tenants ?? 0}
        : undefined
    return {
      kind: 'instance',
      instance,
      target: {id: instance.id, label: labelOf(instance), ...(shared ? {shared} : {})},
    }
  } catch (error) {
    if (!(error instanceof NoSuchInstanceError)) throw error
  }
  const deployed = await deployedContainers(client)
  const matches = deployed.filter((c) => c.id === ref || deployedLabel(c) === ref || c.name === ref)
  if (matches.length === 1)
    return {kind: 'deployed', container: matches[0], target: {id: matches[0].id, label: deployedLabel(matches[0])}}
  if (matches.length > 1)
    throw new DbrokerError(
      `${ref} names a container in ${matches.length} deployments: ${matches.map(deployedLabel).join(', ')}`,
      `name one as <deployment>/<container>, e.g. \`${deployedLabel(matches[0])}\``,
    )
  const names = [
    ...(await client.instances({stats: false})).flatMap((i) => (i.name ? [i.name] : [])),
    ...deployed.map(deployedLabel),
  ]
  const near = nearNames(ref, names)
  throw new DbrokerError(
    `no instance or deployed container has the id or name ${ref}`,
    near.length > 0
      ? `did you mean ${near.join(', ')}? (list them with \`dbroker instances\`)`
      : 'list them with `dbroker instances` (deployed containers as <deployment>/<container>)',
  )
}

/** The id and label of what resolveRef finds: all that logs and restart need. */
export async function containerByRef(
  client: CliBroker & Pick<BrokerClient, 'fetch'>,
  ref: string,
): Promise<ContainerTarget> {
  return (await resolveRef(client, ref)).target
}
