import {specHash} from '../core/spec-hash.js'
import type {ContainerSpec, PortMapping} from '../core/types.js'
import {dependentsOf, startOrder} from './plan.js'
import {type DeploymentSpecs, LABEL_CONTAINER, parseDeploymentKey} from './specs.js'

/**
 * create: new; recreate: its spec hash changed, so the agent makes it anew;
 * update: only what dbroker reads changed (depends_on, readiness, supervision),
 * the container is kept; restart: unchanged, but something it depends on is
 * recreated before it; remove: left the manifest.
 */
export type DiffAction = 'create' | 'recreate' | 'update' | 'restart' | 'remove' | 'unchanged'

export interface DiffStep {
  action: DiffAction
  container: string
  instanceId: string
  /** What changed, without values that may be secret (env and logging options by name only). */
  changes: string[]
  /** For a restart: the recreated containers it restarts after. */
  after?: string[]
}

export interface DeploymentDiff {
  deployment: string
  /** Per host, the steps in the order to take them: removals, then everything else dependencies first. */
  hosts: Array<{host: string; steps: DiffStep[]}>
  summary: Record<DiffAction, number>
}

const containerOf = (spec: ContainerSpec) =>
  spec.labels[LABEL_CONTAINER] ?? parseDeploymentKey(spec.instanceId)?.container ?? spec.name
const nodes = (specs: ContainerSpec[]) => specs.map((s) => ({name: s.instanceId, dependsOn: s.dependsOn ?? []}))

/** What deploying `next` over `previous` (absent for a first deploy) does on each host. */
export function diffDeployment(previous: DeploymentSpecs | undefined, next: DeploymentSpecs): DeploymentDiff {
  const hostIds = [...new Set([...Object.keys(next.hosts), ...Object.keys(previous?.hosts ?? {})])]
  const hosts = hostIds.map((host) => ({host, steps: hostSteps(previous?.hosts[host] ?? [], next.hosts[host] ?? [])}))
  const summary: Record<DiffAction, number> = {create: 0, recreate: 0, update: 0, restart: 0, remove: 0, unchanged: 0}
  for (const {steps} of hosts) for (const step of steps) summary[step.action]++
  return {deployment: next.deployment, hosts, summary}
}

function hostSteps(before: ContainerSpec[], after: ContainerSpec[]): DiffStep[] {
  const old = new Map(before.map((s) => [s.instanceId, s]))
  const fresh = new Map(after.map((s) => [s.instanceId, s]))
  const removals = startOrder(nodes(before))
    .reverse()
    .filter((id) => !fresh.has(id))
    .map((id): DiffStep => ({action: 'remove', container: containerOf(old.get(id)!), instanceId: id, changes: []}))
  const steps = new Map<string, DiffStep>()
  for (const id of startOrder(nodes(after))) {
    const spec = fresh.get(id)!
    const was = old.get(id)
    const step: DiffStep = {action: 'create', container: containerOf(spec), instanceId: id, changes: []}
    if (was) {
      step.changes = describeChanges(was, spec)
      step.action = specHash(was) !== specHash(spec) ? 'recreate' : step.changes.length > 0 ? 'update' : 'unchanged'
    }
    steps.set(id, step)
  }
  const dependents = dependentsOf(nodes(after))
  for (const step of steps.values()) {
    if (step.action !== 'recreate') continue
    for (const id of dependents.get(step.instanceId) ?? []) {
      const dependent = steps.get(id)!
      if (dependent.action === 'create' || dependent.action === 'recreate') continue
      dependent.action = 'restart'
      dependent.after = [...(dependent.after ?? []), step.container]
    }
  }
  return [...removals, ...steps.values()]
}

const portText = (p: PortMapping) => `${p.host}:${p.container}${p.protocol === 'udp' ? '/udp' : ''}`
const listText = (items: string[]) => (items.length > 0 ? items.join(', ') : 'none')
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
const changedKeys = (a: Record<string, string> = {}, b: Record<string, string> = {}) =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort()

/** One phrase per field that differs; values shown only where they can't be secrets. */
export function describeChanges(was: ContainerSpec, now: ContainerSpec): string[] {
  const out: string[] = []
  const shown = new Set(['instanceId', 'build', 'hooks', 'labels'])
  const field = (key: keyof ContainerSpec, phrase: (a: never, b: never) => string) => {
    shown.add(key)
    if (!same(was[key], now[key])) out.push(phrase(was[key] as never, now[key] as never))
  }
  const size = (bytes?: number) => (bytes === undefined ? 'none' : `${bytes / 1024 ** 2}M`)
  field('image', (a: string, b: string) => `image changed: ${a} -> ${b}`)
  field('command', () => 'command changed')
  field('entrypoint', () => 'entrypoint changed')
  field('env', (a: Record<string, string>, b: Record<string, string>) => `env changed: ${changedKeys(a, b).join(', ')}`)
  field(
    'ports',
    (a: PortMapping[], b: PortMapping[]) =>
      `ports changed: ${listText(a.map(portText))} -> ${listText(b.map(portText))}`,
  )
  field(
    'volumes',
    (a: ContainerSpec['volumes'], b: ContainerSpec['volumes']) =>
      `volumes changed: ${listText(a.map((v) => v.path))} -> ${listText(b.map((v) => v.path))}`,
  )
  field('binds', (a: ContainerSpec['binds'] = [], b: ContainerSpec['binds'] = []) => {
    const text = (x: NonNullable<ContainerSpec['binds']>) =>
      listText(x.map((v) => `${v.source}:${v.path}${v.readOnly ? ':ro' : ''}`))
    return `bind_volumes changed: ${text(a)} -> ${text(b)}`
  })
  field(
    'disk',
    (a?: ContainerSpec['disk'], b?: ContainerSpec['disk']) =>
      `disk changed: ${a ? `${size(a.sizeBytes)} at ${a.path}` : 'none'} -> ${b ? `${size(b.sizeBytes)} at ${b.path}` : 'none'}`,
  )
  field('memoryBytes', (a?: number, b?: number) => `memory changed: ${size(a)} -> ${size(b)}`)
  field(
    'nanoCpus',
    (a?: number, b?: number) =>
      `cpus changed: ${a === undefined ? 'none' : a / 1e9} -> ${b === undefined ? 'none' : b / 1e9}`,
  )
  field('bindAddress', (a: string, b: string) => `address changed: ${a} -> ${b}`)
  field('restart', (a: string, b: string) => `restart changed: ${a} -> ${b}`)
  field('restartRetries', (a?: number, b?: number) => `restart retries changed: ${a ?? 'none'} -> ${b ?? 'none'}`)
  field('logging', (a?: ContainerSpec['logging'], b?: ContainerSpec['logging']) =>
    a?.driver !== b?.driver
      ? `logging changed: ${a?.driver ?? 'default'} -> ${b?.driver ?? 'default'}`
      : `logging options changed: ${changedKeys(a?.options, b?.options).join(', ')}`,
  )
  field('dependsOn', (a: string[] = [], b: string[] = []) => {
    const names = (ids: string[]) => listText(ids.map((id) => parseDeploymentKey(id)?.container ?? id))
    return `depends_on changed: ${names(a)} -> ${names(b)}`
  })
  field('readiness', () => 'readiness changed')
  field('supervision', () => 'supervision changed')
  for (const key of Object.keys({...was, ...now}) as Array<keyof ContainerSpec>) {
    if (!shown.has(key) && !same(was[key], now[key])) out.push(`${key} changed`)
  }
  if (!same(was.labels, now.labels)) out.push('labels changed')
  return out
}

const SYMBOL: Record<DiffAction, string> = {
  create: '+',
  recreate: '~',
  update: '*',
  restart: '↻',
  remove: '-',
  unchanged: '=',
}

function detail(step: DiffStep): string {
  switch (step.action) {
    case 'create':
      return 'new'
    case 'remove':
      return 'removed'
    case 'unchanged':
      return 'unchanged'
    case 'recreate':
      return step.changes.join('; ')
    case 'update':
      return `${step.changes.join('; ')}; container kept`
    case 'restart':
      return [`restarts after ${step.after!.join(', ')}`, ...step.changes].join('; ')
  }
}

/** The plain-text form `dbroker deploy --dry-run` prints: one line per container, then a count. */
export function formatDiff(diff: DeploymentDiff): string[] {
  const width = Math.max(...diff.hosts.map((h) => h.host.length))
  const lines = diff.hosts.flatMap(({host, steps}) =>
    steps.map((step) => `${host.padEnd(width)}  ${SYMBOL[step.action]} ${step.container} (${detail(step)})`),
  )
  const counts = (Object.entries(diff.summary) as Array<[DiffAction, number]>)
    .filter(([, n]) => n > 0)
    .map(([action, n]) => `${n} ${action === 'unchanged' ? 'unchanged' : `to ${action}`}`)
  const changing =
    diff.summary.create + diff.summary.recreate + diff.summary.update + diff.summary.restart + diff.summary.remove
  return [
    ...lines,
    changing === 0 ? `${diff.deployment}: nothing to change` : `${diff.deployment}: ${counts.join(', ')}`,
  ]
}
