import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {DbrokerError} from '../core/errors.js'
import {catalogSchema, type CatalogFile, type ContainerDef, type PlanDef, type ServiceDef} from './schema.js'
import {formatPath, readYaml, schemaProblems} from './yaml-document.js'

export type {CatalogFile, ContainerDef, GivenCredentials, PlanDef, PlanKind, ServiceDef} from './schema.js'

/** The container a plan runs its instances in (dedicated and shared plans); a static or existing plan has none. */
export function planContainer(plan: PlanDef): ContainerDef {
  if (!plan.container) throw new DbrokerError(`plan ${plan.name} (${plan.kind.type}) runs no container of its own`)
  return plan.container
}

/** The catalog that ships with dbroker: Redis and PostgreSQL from images/. */
export const defaultCatalogPath = fileURLToPath(new URL('../../images/catalog.yml', import.meta.url))

export class CatalogError extends DbrokerError {
  override readonly name = 'CatalogError'
  constructor(
    readonly file: string,
    readonly problems: Array<{path: string; line?: number; message: string}>,
  ) {
    super(
      `invalid catalog ${file}:\n` +
        problems.map((p) => `  ${p.line ? `line ${p.line}: ` : ''}${p.path || '(document)'}: ${p.message}`).join('\n'),
    )
  }
}

const URI_FIELDS = new Set(['username', 'password', 'host', 'port', 'database', 'name'])

/** The definition with its lookups, built once and swapped as a whole. */
interface CatalogSnapshot {
  definition: CatalogFile
  plans: Map<string, {service: ServiceDef; plan: PlanDef}>
  services: Map<string, ServiceDef>
}

function snapshotOf(definition: CatalogFile): CatalogSnapshot {
  const plans = new Map<string, {service: ServiceDef; plan: PlanDef}>()
  const services = new Map<string, ServiceDef>()
  for (const service of definition.services) {
    services.set(service.id, service)
    for (const plan of service.plans) plans.set(plan.id, {service, plan})
  }
  return {definition, plans, services}
}

/**
 * The catalog the broker serves. `replace` swaps the whole definition at once
 * (the stored catalog changed); what a caller looked up before keeps its
 * objects, so an operation in flight goes on with the plan it started with.
 */
export class Catalog {
  private snapshot: CatalogSnapshot
  /** One more with every `replace`: what caches of the catalog's answers compare. */
  revision = 0

  constructor(
    readonly file: string,
    definition: CatalogFile,
  ) {
    this.snapshot = snapshotOf(definition)
  }

  get definition(): CatalogFile {
    return this.snapshot.definition
  }

  replace(definition: CatalogFile): void {
    this.snapshot = snapshotOf(definition)
    this.revision++
  }

  private get plans() {
    return this.snapshot.plans
  }

  private get services() {
    return this.snapshot.services
  }

  service(id: string): ServiceDef | undefined {
    return this.services.get(id)
  }

  serviceByName(name: string): ServiceDef | undefined {
    return this.definition.services.find((s) => s.name === name)
  }

  plan(id: string): {service: ServiceDef; plan: PlanDef} | undefined {
    return this.plans.get(id)
  }

  planUpdateable(service: ServiceDef, plan: PlanDef): boolean {
    return plan.plan_updateable ?? service.plan_updateable
  }

  /** Every distinct image with how to get it. */
  images(): Array<{image: string; build?: {context: string; dockerfile?: string; args?: Record<string, string>}}> {
    const seen = new Map<
      string,
      {image: string; build?: {context: string; dockerfile?: string; args?: Record<string, string>}}
    >()
    for (const {plan} of this.plans.values()) {
      if (plan.container && !seen.has(plan.container.image))
        seen.set(plan.container.image, {image: plan.container.image, build: plan.container.build})
    }
    return [...seen.values()]
  }
}

/** What a plan's kind asks of its other fields, or undefined when they fit. */
function planKindProblem(plan: PlanDef): {field: string; message: string} | undefined {
  const {kind} = plan
  const runsContainer = kind.type === 'dedicated' || kind.type === 'shared'
  if (runsContainer && !plan.container) return {field: 'container', message: `a ${kind.type} plan needs a container`}
  if (!runsContainer && plan.container)
    return {field: 'container', message: `a ${kind.type} plan runs no container of its own; leave container out`}
  if (kind.type === 'existing' && !kind.credentials && !kind.uri)
    return {
      field: 'kind',
      message: 'an existing container needs credentials, or a uri for what its bind executable answers',
    }
  if (kind.type === 'shared' && plan.container?.binding_credentials === 'shared')
    return {
      field: 'container',
      message: 'a shared plan gives each binding its own user: set binding_credentials: per-binding',
    }
  return undefined
}

/** Loads and validates a catalog file; errors name the file, the path in the document and the line. */
export function loadCatalog(file = defaultCatalogPath): Catalog {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new DbrokerError(
      `cannot read catalog ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  return parseCatalog(text, file)
}

export function parseCatalog(text: string, file: string): Catalog {
  const source = readYaml(text)
  if ('problems' in source) throw new CatalogError(file, source.problems)
  const {lineOf} = source
  const result = catalogSchema.safeParse(source.value)
  if (!result.success) throw new CatalogError(file, schemaProblems(result.error.issues, lineOf))
  const definition = result.data
  const problems: Array<{path: string; line?: number; message: string}> = []
  const ids = new Map<string, string>()
  const names = new Set<string>()
  definition.services.forEach((service, si) => {
    const claim = (id: string, where: PropertyKey[]) => {
      if (ids.has(id))
        problems.push({
          path: formatPath(where),
          line: lineOf(where),
          message: `id ${id} is already used at ${ids.get(id)}`,
        })
      else ids.set(id, formatPath(where))
    }
    claim(service.id, ['services', si, 'id'])
    if (names.has(service.name))
      problems.push({
        path: `services[${si}].name`,
        line: lineOf(['services', si, 'name']),
        message: `service name "${service.name}" is used twice`,
      })
    names.add(service.name)
    const planNames = new Set<string>()
    service.plans.forEach((plan, pi) => {
      const at = ['services', si, 'plans', pi]
      claim(plan.id, [...at, 'id'])
      if (planNames.has(plan.name))
        problems.push({
          path: formatPath([...at, 'name']),
          line: lineOf([...at, 'name']),
          message: `plan name "${plan.name}" is used twice in ${service.name}`,
        })
      planNames.add(plan.name)
      const kindProblem = planKindProblem(plan)
      if (kindProblem)
        problems.push({
          path: formatPath([...at, kindProblem.field]),
          line: lineOf([...at, kindProblem.field]) ?? lineOf(at),
          message: kindProblem.message,
        })
      const uris: Array<[string, PropertyKey[]]> = []
      if (plan.container) uris.push([plan.container.uri, [...at, 'container', 'uri']])
      if (plan.kind.type === 'existing' && plan.kind.uri) uris.push([plan.kind.uri, [...at, 'kind', 'existing', 'uri']])
      for (const [uri, where] of uris)
        for (const field of uri.matchAll(/\{(\w+)\}/g)) {
          if (!URI_FIELDS.has(field[1])) {
            problems.push({
              path: formatPath(where),
              line: lineOf(where),
              message: `unknown placeholder {${field[1]}}; use ${[...URI_FIELDS].map((f) => `{${f}}`).join(' ')}`,
            })
          }
        }
      const c = plan.container
      if (!c) return
      if (
        plan.kind.type === 'dedicated' &&
        c.binding_credentials === 'per-binding' &&
        (!c.hooks.bind || !c.hooks.unbind)
      ) {
        problems.push({
          path: formatPath([...at, 'container', 'hooks']),
          line: lineOf([...at, 'container']),
          message: 'per-binding credentials need hooks.bind and hooks.unbind',
        })
      }
      if (c.credentials.database && !c.credentials.env.database) {
        problems.push({
          path: formatPath([...at, 'container', 'credentials', 'env', 'database']),
          line: lineOf([...at, 'container', 'credentials']),
          message: 'required when credentials.database is true',
        })
      }
      if (c.readiness.probe === 'tcp' && c.readiness.port !== undefined && !c.ports.includes(c.readiness.port)) {
        problems.push({
          path: formatPath([...at, 'container', 'readiness', 'port']),
          line: lineOf([...at, 'container', 'readiness', 'port']),
          message: `port ${c.readiness.port} is not one of the container's ports`,
        })
      }
      if (c.build) c.build.context = path.resolve(path.dirname(file), c.build.context)
    })
  })
  if (problems.length > 0) throw new CatalogError(file, problems)
  return new Catalog(file, definition)
}
