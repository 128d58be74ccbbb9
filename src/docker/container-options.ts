import type Docker from 'dockerode'

import {effectiveLogging} from '../core/logging.js'
import {DEFAULT_ON_FAILURE_RETRIES} from '../core/restart.js'
import {effectiveSecurity, groupNetworkName, installationNetwork} from '../core/security.js'
import {madeFrom, specHash} from '../core/spec-hash.js'
import type {ContainerSpec} from '../core/types.js'

export const LABEL_INSTANCE = 'dbroker.instance'
export const LABEL_INSTALLATION = 'dbroker.installation'
export const LABEL_SPEC = 'dbroker.spec'

export const networkName = installationNetwork

export {groupNetworkName}

export {madeFrom, specHash}

/** The engine's create call for a spec: its labels name the instance and the installation, and it runs confined. */
export function createOptions(spec: ContainerSpec, installation: string): Docker.ContainerCreateOptions {
  const exposed: Record<string, object> = {}
  const bindings: Record<string, Array<{HostIp: string; HostPort: string}>> = {}
  for (const p of spec.ports) {
    exposed[`${p.container}/${p.protocol}`] = {}
    bindings[`${p.container}/${p.protocol}`] = [{HostIp: spec.bindAddress, HostPort: String(p.host)}]
  }
  const owner = {[LABEL_INSTANCE]: spec.instanceId, [LABEL_INSTALLATION]: installation}
  const security = effectiveSecurity(spec)
  const network = spec.network ? groupNetworkName(installation, spec.network.name) : networkName(installation)
  const logging = effectiveLogging(spec)
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.command,
    Entrypoint: spec.entrypoint,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: {...spec.labels, ...owner, [LABEL_SPEC]: specHash(spec)},
    ExposedPorts: exposed,
    ...(spec.imageHealthcheck === false ? {Healthcheck: {Test: ['NONE']}} : {}),
    HostConfig: {
      PortBindings: bindings,
      NetworkMode: network,
      Mounts: spec.volumes.map((v) => ({
        Type: 'volume' as const,
        Source: v.name,
        Target: v.path,
        // The engine creates the volume on first use; the labels let removal find it and tell whose it is.
        VolumeOptions: {Labels: owner} as unknown as Docker.MountSettings['VolumeOptions'],
      })),
      // A manifest's host directories, as `docker run -v` and docker-compose bind them: one missing is made (root's, 0755).
      ...(spec.binds?.length ? {Binds: spec.binds.map((b) => `${b.source}:${b.path}${b.readOnly ? ':ro' : ''}`)} : {}),
      Memory: spec.memoryBytes,
      // No swap beyond the memory limit (the engine's default would allow as much again).
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      RestartPolicy: {
        Name: spec.restart === 'no' ? '' : spec.restart,
        MaximumRetryCount:
          spec.restart === 'on-failure' ? spec.restartRetries || DEFAULT_ON_FAILURE_RETRIES : undefined,
      },
      Privileged: false,
      CapDrop: ['ALL'],
      CapAdd: security.capabilities,
      SecurityOpt: security.noNewPrivileges ? ['no-new-privileges'] : [],
      PidsLimit: security.pidsLimit,
      ReadonlyRootfs: security.readOnlyRootfs,
      Tmpfs: Object.fromEntries(
        Object.entries(security.tmpfs).map(([at, size]) => [at, `rw,nosuid,nodev,size=${size}`]),
      ),
      LogConfig: {Type: logging.driver, Config: logging.options},
    },
    ...(spec.network ? {NetworkingConfig: {EndpointsConfig: {[network]: {Aliases: spec.network.aliases}}}} : {}),
  }
}
