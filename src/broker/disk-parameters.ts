import {type PlanDef, planContainer} from '../catalog/index.js'
import {MAX_DISK_BYTES, MIN_DISK_BYTES, parseBytes} from '../catalog/units.js'
import {badRequest, OsbError} from '../core/errors.js'
import type {ContainerSpec, DiskSpec, HostFacts} from '../core/types.js'

/** The OSB parameter that sizes an instance's disk (`{"disk_size": "2G"}`); dbroker's own, never the image's. */
export const DISK_SIZE = 'disk_size'

/** `disk_size` in bytes, or a 400 naming the parameter. */
export function parseDiskSizeParameter(value: unknown): number {
  const bytes = typeof value === 'string' || typeof value === 'number' ? parseBytes(value) : undefined
  if (bytes === undefined || bytes < MIN_DISK_BYTES || bytes > MAX_DISK_BYTES)
    throw badRequest(
      `invalid parameters: ${DISK_SIZE} ${JSON.stringify(value)} is not a disk size between 16M and 16T (e.g. "2G")`,
    )
  return bytes
}

/** Splits `disk_size` from the parameters the plan's schema and the image see. */
export function withoutDiskSize(parameters: Record<string, unknown>): Record<string, unknown> {
  const {[DISK_SIZE]: _size, ...rest} = parameters
  return rest
}

/** The disk a plan gives an instance: the plan's size unless `disk_size` says otherwise; its name stays once made. */
export function planDisk(
  plan: PlanDef,
  parameters: Record<string, unknown>,
  name: string,
  previous?: DiskSpec,
): DiskSpec | undefined {
  const disk = plan.container?.disk
  if (!disk) return undefined
  const requested = parameters[DISK_SIZE]
  return {
    name: previous?.name ?? name,
    path: disk.path ?? planContainer(plan).volumes[0],
    sizeBytes: requested === undefined ? disk.size : parseDiskSizeParameter(requested),
    ...(disk.driver ? {driver: disk.driver} : {}),
  }
}

/**
 * What an update may do to a disk: keep where and how the data lives, and size it only where the host's disks
 * have a size. Anything else would leave the data behind, so it is refused before anything changes.
 */
export function checkDiskChange(
  previous: ContainerSpec,
  next: ContainerSpec,
  host: {id: string; facts: HostFacts | null},
): void {
  const a = previous.disk
  const b = next.disk
  if (!a && !b) return
  if (!a || !b || a.path !== b.path || (a.driver ?? '') !== (b.driver ?? ''))
    throw new OsbError(
      422,
      `the instance keeps its data ${a ? `on a disk at ${a.path}` : 'without a disk'}, the new plan ${b ? `on a disk at ${b.path}${b.driver ? ` (${b.driver})` : ''}` : 'without one'}: provision a new instance instead`,
    )
  const driver = b.driver ?? host.facts?.disks?.driver
  if (a.sizeBytes !== b.sizeBytes && driver === 'volume')
    throw new OsbError(
      422,
      `host ${host.id} keeps disks as Docker volumes, which have no size: ${DISK_SIZE} cannot change there`,
    )
}
