import {createHash} from 'node:crypto'

import type {ContainerSpec} from './types.js'

/**
 * What a container was created from: a spec whose hash differs from its
 * container's label is recreated. Readiness, hooks, the build recipe, the
 * dependencies and the restart budget are read by dbroker, not by the engine,
 * so changing them recreates nothing. Here (not in docker/) so the broker can
 * predict the agent's decision without importing the engine.
 */
export function specHash(spec: ContainerSpec): string {
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
  return createHash('sha256').update(JSON.stringify(runtime)).digest('hex').slice(0, 16)
}
