import {createHash} from 'node:crypto'

import type {Catalog, GivenCredentials, PlanKind} from '../../catalog/index.js'
import {adoptedContainerId, type AgentClient, type ExecOptions} from '../../core/agent.js'
import type {BindingCredentials, ContainerSpec, Host, PortMapping, ServiceInstance} from '../../core/types.js'

/** The JSON-form lifecycle executables every shared or adopted container runs (images/README.md point 7). */
export const EXECUTABLES = {
  provision: ['/dbroker/provision'],
  deprovision: ['/dbroker/deprovision'],
  bind: ['/dbroker/bind', '--json'],
  unbind: ['/dbroker/unbind', '--json'],
} as const

export type Executable = keyof typeof EXECUTABLES

/** The kind of an instance's plan; an instance whose plan left the catalog is taken for what every plan was before kinds. */
export function kindOf(catalog: Catalog, instance: Pick<ServiceInstance, 'planId'>): PlanKind {
  return catalog.plan(instance.planId)?.plan.kind ?? {type: 'dedicated'}
}

/** Whether the kind's instances and bindings go through the JSON executables (a database or namespace each). */
export const usesExecutables = (kind: PlanKind): boolean =>
  kind.type === 'shared' || (kind.type === 'existing' && !kind.credentials)

/** The operator's credentials every binding of the kind gets, if it hands out given ones. */
export function givenCredentials(kind: PlanKind): GivenCredentials | undefined {
  return kind.type === 'static' ? kind.credentials : kind.type === 'existing' ? kind.credentials : undefined
}

/** What a binding of given credentials answers: exactly the operator's, nothing of dbroker's. */
export function givenBindingCredentials(given: GivenCredentials): BindingCredentials {
  return {
    host: given.host,
    port: given.port,
    username: given.username,
    password: given.password,
    uri: given.uri,
    ...(given.database ? {database: given.database} : {}),
  }
}

/** The instance's database in a shared or adopted container: `db` + 12 hex digits of SHA-256(id), as the images derive it. */
export const instanceDatabase = (instanceId: string) =>
  `db${createHash('sha256').update(instanceId).digest('hex').slice(0, 12)}`

/**
 * The record a static or adopted instance keeps in place of a container spec:
 * no container of dbroker's runs for it (desired state leaves it out), only
 * the port its bindings name.
 */
export function noContainerSpec(instanceId: string, host: Host, kind: PlanKind): ContainerSpec {
  const ports: PortMapping[] =
    kind.type === 'existing' ? [{container: kind.port, host: kind.port, protocol: 'tcp'}] : []
  return {
    instanceId,
    name: kind.type === 'existing' ? kind.container : '',
    image: kind.type,
    env: {},
    ports,
    bindAddress: host.bindAddress,
    volumes: [],
    restart: 'no',
    labels: {},
    readiness: {probe: 'none', timeoutMs: 0},
    hooks: {},
  }
}

/**
 * The agent-side id of the container behind an instance, for logs, stats, restart and its state: its own, its
 * shared container (`shared.<name>.<host>`), or the adopted one (`adopted:<name>`); a static instance has none.
 */
export function containerOf(instance: Pick<ServiceInstance, 'spec'>, kind: PlanKind): string | undefined {
  if (kind.type === 'static') return undefined
  if (kind.type === 'existing') return adoptedContainerId(kind.container)
  return instance.spec.instanceId
}

/** Where an instance's executables run: the agent-side id of its container and, for an adopted one, its name. */
export function execTarget(instance: ServiceInstance, kind: PlanKind): {id: string; options: ExecOptions} {
  return {
    id: instance.spec.instanceId,
    options: kind.type === 'existing' ? {containerName: kind.container} : {},
  }
}

/** The document an executable reads on stdin: the instance's ids, its parameters and context, and what the call is about. */
export function lifecycleDocument(
  instance: ServiceInstance,
  more: {binding_id?: string; username?: string; password?: string} = {},
): Record<string, unknown> {
  return {
    instance_id: instance.id,
    service_id: instance.serviceId,
    plan_id: instance.planId,
    parameters: instance.parameters,
    context: instance.context,
    ...(instance.credentials.database ? {database: instance.credentials.database} : {}),
    ...instance.credentials.namespace,
    ...more,
  }
}

/** An executable that failed: its exit status and its last line on stderr, with the document's secrets masked. */
export class ExecutableError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number,
    stderr: string,
    secrets: string[],
  ) {
    let line = stderr.trim().split('\n').pop() ?? ''
    for (const secret of secrets) if (secret.length >= 8) line = line.split(secret).join('********')
    super(`${command.join(' ')} exited with ${exitCode}${line ? `: ${line}` : ''}`)
  }
}

/**
 * Runs one JSON-form executable with its document on stdin and answers the
 * JSON object it printed ({} when it printed nothing). Its stdout may hold a
 * password: it never goes into an error or a log line.
 */
export async function runExecutable(
  agent: AgentClient,
  target: {id: string; options: ExecOptions},
  executable: Executable,
  document: Record<string, unknown>,
  accepted: number[] = [],
): Promise<{exitCode: number; answer: Record<string, unknown>}> {
  const command = EXECUTABLES[executable]
  const result = await agent.exec(target.id, [...command], {}, {...target.options, stdin: JSON.stringify(document)})
  const secrets = [document.password].filter((s): s is string => typeof s === 'string')
  if (result.exitCode !== 0 && !accepted.includes(result.exitCode))
    throw new ExecutableError(command, result.exitCode, result.stderr ?? result.output, secrets)
  const printed = (result.stdout ?? '').trim()
  if (!printed) return {exitCode: result.exitCode, answer: {}}
  let answer: unknown
  try {
    answer = JSON.parse(printed)
  } catch {
    answer = undefined
  }
  if (!answer || typeof answer !== 'object' || Array.isArray(answer))
    throw new Error(`${command.join(' ')} printed something other than one JSON object on stdout`)
  return {exitCode: result.exitCode, answer: answer as Record<string, unknown>}
}

/**
 * What bind --json answered, checked against what the broker asked for and
 * already gave the binding: the same user, the instance's database, a port
 * the container publishes. Anything else fails the bind (no secret in the message).
 */
export function checkBindAnswer(
  answer: Record<string, unknown>,
  instance: ServiceInstance,
  user: {username: string; password: string},
  kind: PlanKind,
): void {
  const problems: string[] = []
  if (answer.username !== user.username) problems.push('another username')
  if (answer.password !== user.password) problems.push('another password')
  const database = instance.credentials.database
  if (database && answer.database !== undefined && answer.database !== database) problems.push('another database')
  if (
    kind.type === 'shared' &&
    answer.port !== undefined &&
    !instance.spec.ports.some((p) => p.container === answer.port)
  )
    problems.push(`port ${String(answer.port)}, which the container does not publish`)
  if (problems.length > 0)
    throw new Error(`${EXECUTABLES.bind.join(' ')} answered ${problems.join(', ')} than the broker asked for`)
}
