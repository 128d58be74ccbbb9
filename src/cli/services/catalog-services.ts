import {readFileSync} from 'node:fs'
import path from 'node:path'

import {CatalogError, loadCatalog, type ServiceDef} from '../../catalog/index.js'
import {readYaml, type YamlSource} from '../../catalog/yaml-document.js'
import {CatalogServicesClient, InvalidServiceError} from '../../client/catalog-client.js'
import type {BrokerClient} from '../../client/broker-client.js'
import type {CatalogChange, CatalogList, CatalogServiceView} from '../../core/catalog-admin.js'
import {DbrokerError} from '../../core/errors.js'
import {renderTable} from '../table.js'
import type {Progress} from './broker.js'

type Client = Pick<BrokerClient, 'fetch' | 'target'>

/** A services file: the catalog file's shape (`services: [...]`), checked here first so errors name its lines. */
interface ServicesFile {
  file: string
  services: ServiceDef[]
  lineOf: YamlSource['lineOf']
}

function readServicesFile(file: string): ServicesFile {
  // The loader resolves build contexts against the file's directory: the absolute path finds them on this machine.
  const {definition} = loadCatalog(path.resolve(file))
  const source = readYaml(readFileSync(file, 'utf8'))
  return {file, services: definition.services, lineOf: 'lineOf' in source ? source.lineOf : () => undefined}
}

/** The broker's word on service `index` of the file, at the file's lines. */
function inFile(error: unknown, file: ServicesFile, index: number): unknown {
  if (!(error instanceof InvalidServiceError)) return error
  const problems = error.problems.map((p) => {
    const where = `services[${index}]${p.path.replace(/^service/, '')}`
    const segments = where.match(/[^.[\]]+/g)!.map((s) => (/^\d+$/.test(s) ? Number(s) : s))
    // The broker's words, one problem per line: a line break in them can't make another.
    return {path: where, line: file.lineOf(segments), message: String(p.message).replace(/[\r\n]+/g, ' ')}
  })
  return new CatalogError(file.file, problems)
}

const findStored = (list: CatalogList, service: ServiceDef) =>
  list.services.find((s) => s.id === service.id) ?? list.services.find((s) => s.name === service.name)

/** What happened to each service of a file, in its order; the ones after a failure were not tried. */
export interface ServicesResult {
  generation: number
  services: Array<{name: string; version: number; changed: boolean}>
}

async function applyEach(
  file: ServicesFile,
  apply: (service: ServiceDef) => Promise<CatalogChange>,
  progress?: Progress,
): Promise<ServicesResult> {
  const result: ServicesResult = {generation: 0, services: []}
  for (const [index, service] of file.services.entries()) {
    let change: CatalogChange
    try {
      change = await apply(service)
    } catch (error) {
      const done = result.services.map((s) => s.name)
      if (done.length > 0) progress?.(`applied before this failure: ${done.join(', ')}`)
      throw inFile(error, file, index)
    }
    result.generation = change.generation
    result.services.push({name: change.service.name, version: change.service.version, changed: change.changed})
  }
  return result
}

/** `dbroker services add FILE`: every service of the file, none of which the catalog has yet. */
export async function addServices(client: Client, file: string, progress?: Progress): Promise<ServicesResult> {
  const services = readServicesFile(file)
  const api = new CatalogServicesClient(client)
  const list = await api.list()
  const there = services.services.filter((s) => findStored(list, s))
  if (there.length > 0)
    throw new DbrokerError(
      `the catalog has ${there.map((s) => s.name).join(', ')} already; nothing was added`,
      `change ${there.length === 1 ? 'it' : 'them'} with \`dbroker services update ${file}\``,
    )
  return applyEach(services, (service) => api.add(service), progress)
}

/** `dbroker services update FILE`: every service of the file, each at the version the catalog has now. */
export async function updateServices(client: Client, file: string, progress?: Progress): Promise<ServicesResult> {
  const services = readServicesFile(file)
  const api = new CatalogServicesClient(client)
  const list = await api.list()
  const missing = services.services.filter((s) => !findStored(list, s))
  if (missing.length > 0)
    throw new DbrokerError(
      `the catalog has no ${missing.map((s) => s.name).join(', ')}; nothing was updated`,
      `add ${missing.length === 1 ? 'it' : 'them'} with \`dbroker services add ${file}\``,
    )
  return applyEach(
    services,
    (service) => {
      const stored = findStored(list, service)!
      return api.update(stored.name, stored.version, service)
    },
    progress,
  )
}

export function listServices(client: Client): Promise<CatalogList> {
  return new CatalogServicesClient(client).list()
}

/** The stored service named (or id'd) `ref`; an error naming the catalog's services otherwise. */
export async function storedService(client: Client, ref: string): Promise<CatalogServiceView> {
  const list = await listServices(client)
  const found = list.services.find((s) => s.name === ref) ?? list.services.find((s) => s.id === ref)
  if (!found)
    throw new DbrokerError(`the catalog has no service ${ref}`, `it has ${list.services.map((s) => s.name).join(', ')}`)
  return found
}

export function removeService(client: Client, service: CatalogServiceView): Promise<CatalogChange> {
  return new CatalogServicesClient(client).remove(service.name, service.version)
}

export function servicesTable(list: CatalogList): string {
  return renderTable(list.services, [
    {header: 'service', value: (s) => s.name},
    {header: 'version', value: (s) => String(s.version), align: 'right'},
    {header: 'plans', value: (s) => s.definition.plans.map((p) => p.name).join(', ')},
    {header: 'updated', value: (s) => new Date(s.updatedAt).toISOString().slice(0, 19).replace('T', ' ')},
    {header: 'id', value: (s) => s.id},
  ])
}

export function servicesResultText(result: ServicesResult, verb: string): string {
  return (
    result.services
      .map((s) => `${s.name}: ${s.changed ? `${verb} (version ${s.version})` : `unchanged (version ${s.version})`}`)
      .join('\n') + `\ncatalog generation ${result.generation}\n`
  )
}
