import {
  type ContainerLogging,
  DEFAULT_LOGGING,
  describeLogging,
  effectiveLogging,
  fromLegacyLog,
  type LegacyLog,
} from './logging.js'

/** How an instance's container is confined: the broker puts it in the spec, the agent applies it, the admin API shows it. */

export interface ContainerSecurity {
  /** The only capabilities left after dropping all of them. */
  capabilities: string[]
  readOnlyRootfs: boolean
  /** Writable in-memory mounts a read-only root needs: path -> size in bytes. */
  tmpfs: Record<string, number>
  noNewPrivileges: boolean
  pidsLimit: number
  /** Only in specs stored before the spec's own `logging`: how their containers log. */
  log?: LegacyLog
}

/**
 * What the reference images need, found by starting them with less: their
 * entrypoints run as root to chown the data volume (CHOWN, and DAC_OVERRIDE to
 * enter a directory the service user owns), chmod the socket directory
 * (FOWNER), then drop to the service user (SETUID, SETGID).
 */
export const DEFAULT_SECURITY: ContainerSecurity = {
  capabilities: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETGID', 'SETUID'],
  readOnlyRootfs: true,
  tmpfs: {'/tmp': 64 * 1024 ** 2, '/run': 16 * 1024 ** 2},
  noNewPrivileges: true,
  pidsLimit: 512,
}

/** Linux capabilities by their Docker names (without CAP_). */
export const CAPABILITIES = [
  'AUDIT_CONTROL',
  'AUDIT_READ',
  'AUDIT_WRITE',
  'BLOCK_SUSPEND',
  'BPF',
  'CHECKPOINT_RESTORE',
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'IPC_LOCK',
  'IPC_OWNER',
  'KILL',
  'LEASE',
  'LINUX_IMMUTABLE',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
  'MKNOD',
  'NET_ADMIN',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_RAW',
  'PERFMON',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_CHROOT',
  'SYS_MODULE',
  'SYS_NICE',
  'SYS_PACCT',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'SYSLOG',
  'WAKE_ALARM',
] as const

/** The settings a container of this spec runs with: a spec from before hardening gets the defaults. */
export function effectiveSecurity(spec: {security?: ContainerSecurity}): ContainerSecurity {
  return spec.security ?? DEFAULT_SECURITY
}

/** One bridge per installation with inter-container traffic off: published ports stay the only way in. */
export const installationNetwork = (installation: string) => `dbroker-${installation}`

/** The engine's name of a spec's own network: inside the installation's name, so installations never share one. */
export const groupNetworkName = (installation: string, name: string) => `${installationNetwork(installation)}.${name}`

/** Everything about a container's confinement, as the agent creates it: what the admin API shows. */
export interface SecurityView extends ContainerSecurity {
  privileged: boolean
  /** Where the container's output goes (see core/logging.ts); older brokers sent `log` instead. */
  logging: ContainerLogging
  capDrop: string[]
  memoryBytes: number | null
  /** Memory plus swap: equal to the memory limit, so no swap. */
  memorySwapBytes: number | null
  network: string
}

export function securityView(
  spec: {security?: ContainerSecurity; memoryBytes?: number; logging?: ContainerLogging},
  installation: string,
): SecurityView {
  const {log: _legacy, ...security} = effectiveSecurity(spec)
  return {
    ...security,
    logging: effectiveLogging(spec),
    privileged: false,
    capDrop: ['ALL'],
    memoryBytes: spec.memoryBytes ?? null,
    memorySwapBytes: spec.memoryBytes ?? null,
    network: installationNetwork(installation),
  }
}

/** One line saying how a container is confined, for `dbroker show` and top's detail. */
export function confinement(s: SecurityView): string {
  return [
    s.privileged ? 'PRIVILEGED' : 'unprivileged',
    `caps ${s.capabilities.join(',') || 'none'}`,
    s.readOnlyRootfs ? `read-only root (tmpfs ${Object.keys(s.tmpfs).join(',') || '-'})` : 'writable root',
    s.noNewPrivileges ? 'no-new-privileges' : 'new privileges allowed',
    `pids ${s.pidsLimit}`,
    s.memoryBytes !== null && s.memorySwapBytes === s.memoryBytes ? 'no swap' : 'swap allowed',
    `logs ${describeLogging(s.logging ?? (s.log ? fromLegacyLog(s.log) : DEFAULT_LOGGING))}`,
    `network ${s.network}`,
  ].join(', ')
}
