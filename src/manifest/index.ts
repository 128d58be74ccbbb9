import {createHash} from 'node:crypto'
import {lstatSync, readdirSync, readFileSync, readlinkSync, statSync} from 'node:fs'
import path from 'node:path'

import {formatPath, readYaml, schemaProblems, type SourceProblem} from '../catalog/yaml-document.js'
import {DbrokerError} from '../core/errors.js'
import type {BuildSource} from '../core/types.js'
import {findCycle} from './plan.js'
import {manifestSchema, type ManifestContainer, type ManifestFile} from './schema.js'

export {parsePort, splitWords, type ManifestFile, type PortRequest} from './schema.js'

export type ManifestProblem = SourceProblem
export {formatPath}

/** Problems in the order of the file, so the first line to fix comes first. */
const byLine = (problems: ManifestProblem[]) => [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0))

export class ManifestError extends DbrokerError {
  override readonly name = 'ManifestError'
  constructor(
    readonly file: string,
    readonly problems: ManifestProblem[],
  ) {
    super(
      problems
        .map((p) => `${file}: ${p.line ? `line ${p.line}: ` : ''}${p.path || '(document)'}: ${p.message}`)
        .join('\n'),
    )
  }
}

/** A manifest container with its image settled: the tag to run and, for a Dockerfile or a context, how to build it. */
export type DeploymentContainer = Omit<ManifestContainer, 'image' | 'dockerfile' | 'build'> & {
  image: string
  build?: BuildSource
}

/** A loaded, checked manifest: what `dbroker deploy` stores and the hosts converge to. */
export interface Deployment {
  name: string
  file: string
  hosts: Array<{name: string; containers: DeploymentContainer[]}>
  /** The line of a path in the manifest (`['hosts', 0, 'containers', 1, 'ports', 0]`), for errors found later. */
  lineOf(segments: PropertyKey[]): number | undefined
}

export function loadManifest(file: string): Deployment {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new DbrokerError(
      `cannot read manifest ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  return parseManifest(text, file)
}

/** Parses and checks a manifest; every problem names the file, the path in the document and its line. Build contexts are resolved against the file's directory. */
export function parseManifest(text: string, file: string): Deployment {
  const source = readYaml(text, {uniqueKeys: true})
  if ('problems' in source) throw new ManifestError(file, source.problems)
  const {lineOf} = source
  const at = (segments: PropertyKey[], message: string): ManifestProblem => ({
    path: formatPath(segments),
    line: lineOf(segments),
    message,
  })
  const result = manifestSchema.safeParse(source.value)
  if (!result.success) throw new ManifestError(file, byLine(schemaProblems(result.error.issues, lineOf)))
  const problems = checkManifest(result.data, at)
  const hosts = result.data.hosts.map((host, hi) => ({
    name: host.name,
    containers: host.containers.map((container, ci) => {
      const {image: _image, dockerfile: _dockerfile, build: _build, ...rest} = container
      if ([_image, _dockerfile, _build].filter((s) => s !== undefined).length !== 1) return {...rest, image: ''}
      try {
        return {...rest, ...imageOf(result.data.name, container, path.dirname(path.resolve(file)))}
      } catch (error) {
        problems.push(at(['hosts', hi, 'containers', ci, 'build'], (error as Error).message))
        return {...rest, image: ''}
      }
    }),
  }))
  if (problems.length > 0) throw new ManifestError(file, byLine(problems))
  return {name: result.data.name, file, hosts, lineOf}
}

/** The checks a schema can't make: names, references, cycles, ports and mounts across a host. */
function checkManifest(
  manifest: ManifestFile,
  at: (segments: PropertyKey[], message: string) => ManifestProblem,
): ManifestProblem[] {
  const problems: ManifestProblem[] = []
  const hostAt = new Map<string, number>()
  manifest.hosts.forEach((host, hi) => {
    if (hostAt.has(host.name))
      problems.push(
        at(['hosts', hi, 'name'], `host "${host.name}" is already listed at hosts[${hostAt.get(host.name)}]`),
      )
    else hostAt.set(host.name, hi)
    const containerAt = new Map<string, number>()
    const fixedPorts = new Map<string, string>()
    host.containers.forEach((c, ci) => {
      const where = ['hosts', hi, 'containers', ci]
      if (containerAt.has(c.name))
        problems.push(
          at(
            [...where, 'name'],
            `container "${c.name}" is already on host ${host.name} at containers[${containerAt.get(c.name)}]`,
          ),
        )
      else containerAt.set(c.name, ci)
      const sources = (['image', 'dockerfile', 'build'] as const).filter((key) => c[key] !== undefined)
      if (sources.length === 0) problems.push(at(where, 'needs one of image, dockerfile or build'))
      if (sources.length > 1)
        problems.push(
          at([...where, sources[1]], `give one of image, dockerfile or build, not ${sources.join(' and ')}`),
        )
      const containerPorts = new Set<string>()
      c.ports.forEach((p, pi) => {
        const key = `${p.container}/${p.protocol}`
        if (containerPorts.has(key))
          problems.push(at([...where, 'ports', pi], `container port ${key} is published twice`))
        containerPorts.add(key)
        if (p.host === undefined) return
        const hostKey = `${p.host}/${p.protocol}`
        const claimed = fixedPorts.get(hostKey)
        if (claimed)
          problems.push(
            at([...where, 'ports', pi], `host port ${hostKey} is already taken on ${host.name} by ${claimed}`),
          )
        else fixedPorts.set(hostKey, c.name)
      })
      const address = c.ports[0]?.hostIp
      const elsewhere = c.ports.findIndex((p) => p.hostIp !== address)
      if (elsewhere >= 0) {
        problems.push(
          at(
            [...where, 'ports', elsewhere],
            `the ports of a container bind one address: ${c.ports[elsewhere].hostIp ?? "the host's"} here, ${address ?? "the host's"} for ports[0]`,
          ),
        )
      }
      const mounts = new Map<string, string>()
      const mount = (target: string, segments: PropertyKey[]) => {
        if (mounts.has(target))
          problems.push(at([...where, ...segments], `${target} is already mounted by ${mounts.get(target)}`))
        else mounts.set(target, formatPath(segments))
      }
      c.volumes.forEach((v, vi) => mount(v, ['volumes', vi]))
      if (c.disk) mount(c.disk.path, ['disk', 'path'])
      c.bind_volumes.forEach((b, bi) => mount(b.path, ['bind_volumes', bi]))
      c.depends_on.forEach((dependency, di) => {
        if (!host.containers.some((other) => other.name === dependency)) {
          problems.push(at([...where, 'depends_on', di], `"${dependency}" is not a container on host ${host.name}`))
        }
      })
      const r = c.readiness
      if (r.probe === 'tcp' && r.port === undefined && c.ports.length === 0)
        problems.push(at([...where, 'readiness'], 'a tcp probe needs a port: give readiness.port or publish one'))
      if (
        r.probe === 'tcp' &&
        r.port !== undefined &&
        !c.ports.some((p) => p.container === r.port && p.protocol === 'tcp')
      ) {
        problems.push(at([...where, 'readiness', 'port'], `port ${r.port} is not one of the container's tcp ports`))
      }
    })
    const cycle = findCycle(host.containers.map((c) => ({name: c.name, dependsOn: c.depends_on})))
    if (cycle) {
      const ci = host.containers.findIndex((c) => c.name === cycle[0])
      problems.push(at(['hosts', hi, 'containers', ci, 'depends_on'], `dependency cycle ${cycle.join(' -> ')}`))
    }
  })
  return problems
}

/**
 * The image a container runs. A Dockerfile or a context is tagged by a hash of
 * what goes into the build, so editing it changes the image and so the spec:
 * the agent builds the new tag and recreates the container.
 */
function imageOf(deployment: string, c: ManifestContainer, manifestDir: string): {image: string; build?: BuildSource} {
  if (c.image) return {image: c.image}
  const args = c.build?.args ?? {}
  const hash = createHash('sha256').update(JSON.stringify(Object.entries(args).sort()))
  let build: BuildSource
  if (c.dockerfile !== undefined) {
    hash.update('inline\0').update(c.dockerfile)
    build = {context: '', inline: c.dockerfile}
  } else {
    const context = path.resolve(manifestDir, c.build!.context)
    if (!statSync(context, {throwIfNoEntry: false})?.isDirectory())
      throw new Error(`build context ${context} is not a directory`)
    hash.update(`context\0${c.build!.dockerfile ?? ''}\0`)
    for (const file of filesUnder(context)) {
      const full = path.join(context, file)
      hash
        .update(`${file}\0`)
        .update(lstatSync(full).isSymbolicLink() ? readlinkSync(full) : readFileSync(full))
        .update('\0')
    }
    build = {context, ...(c.build!.dockerfile ? {dockerfile: c.build!.dockerfile} : {})}
  }
  if (Object.keys(args).length > 0) build.args = args
  return {image: `dbroker-deploy/${deployment}-${c.name}:${hash.digest('hex').slice(0, 12)}`, build}
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), {withFileTypes: true})
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((entry) => {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name
      return entry.isDirectory() ? filesUnder(dir, rel) : [rel]
    })
}
