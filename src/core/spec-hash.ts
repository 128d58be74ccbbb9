import {createHash} from 'node:crypto'

import {canonical} from './canonical-json.js'
import type {ContainerSpec} from './types.js'

/** What the engine runs of a spec: readiness, hooks, the build recipe, the dependencies and the restart budget are dbroker's to read. */
function runtimeOf(spec: ContainerSpec): Partial<ContainerSpec> {
  const {
    readiness: _readiness,
    hooks: _hooks,
    build: _build,
    dependsOn: _dependsOn,
    supervision: _supervision,
    ...runtime
  } = spec
  // A disk's size is the agent's to change (a resize keeps the container); where and how it is mounted is the engine's.
  if (runtime.disk) runtime.disk = {...runtime.disk, sizeBytes: 0}
  return runtime
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16)

/**
 * What a container was created from: a spec whose hash differs from its
 * container's label is recreated. It hashes the canonical form (sorted keys,
 * undefined dropped), so the same spec hashes the same whoever built it and
 * however it travelled. Here (not in docker/) so the broker can predict the
 * agent's decision without importing the engine.
 */
export function specHash(spec: ContainerSpec): string {
  return sha(canonical(runtimeOf(spec)))
}

/** The hash labels carried before the canonical form: JSON in the spec's own key order. */
export function legacySpecHash(spec: ContainerSpec): string {
  return sha(JSON.stringify(runtimeOf(spec)))
}

/**
 * Whether a container labelled `hash` was made from this spec. A container
 * made before the canonical hash carries the legacy one of the same spec (as
 * the store keeps it, in its key order): it is the same container, not
 * recreated on upgrade.
 */
export function madeFrom(spec: ContainerSpec, hash: string | undefined): boolean {
  return hash !== undefined && (hash === specHash(spec) || hash === legacySpecHash(spec))
}
