import {Args} from '@oclif/core'

import {BrokerCommand} from '../../cli/base-command.js'
import {instanceByRef, labelOf} from '../../cli/services/instances.js'
import type {DiskResizeResult} from '../../core/admin.js'
import {parseBytes} from '../../catalog/units.js'
import {DbrokerError, UsageError} from '../../core/errors.js'
import {formatBytes} from '../../core/format.js'

export default class DiskResize extends BrokerCommand {
  static override summary = "Grow or shrink an instance's disk, keeping every byte"
  static override description = `The BOSH way: a new disk is made and sized first (a disk too small for the data is refused before anything stops), then the container stops, the data is copied and verified (file count, checksums, e2fsck), the disks are swapped and the container starts on the new one; the old disk goes once the service is ready. A failure at any step leaves the old disk in use and the service running. The same as an OSB update with {"parameters": {"disk_size": SIZE}}.`
  static override examples = [
    '<%= config.bin %> disk resize orders-db 2G',
    '<%= config.bin %> disk resize cache 512M --json',
  ]
  static override args = {
    instance: Args.string({required: true, description: 'instance name or id'}),
    size: Args.string({required: true, description: 'the new size, e.g. 512M, 2G'}),
  }

  async run(): Promise<DiskResizeResult> {
    const {args, flags} = await this.parse(DiskResize)
    // The broker checks the bounds; a size that is no size at all is this command's usage.
    if (parseBytes(args.size) === undefined)
      throw new UsageError(
        `SIZE ${args.size} is not a size: give bytes or a number with K, M, G or T (512M, 2G)`,
        '`dbroker disk resize NAME 2G`',
      )
    const client = await this.client(flags.context)
    const instance = await instanceByRef(client, args.instance)
    // Refused before anything is announced or stopped (the broker refuses it too, for older clients).
    if (instance.disk === null)
      throw new DbrokerError(
        `${labelOf(instance)} has no disk to resize: its plan (${instance.plan}) keeps data in Docker volumes`,
        'pick a plan with a disk (`dbroker catalog`) for data you want to resize',
      )
    this.note(
      `resizing the disk of ${labelOf(instance)} to ${args.size} (its container stops while the data is copied)`,
    )
    const result = await client.resizeDisk(instance.id, args.size)
    this.log(
      `${labelOf(instance)}: disk at ${result.path} resized from ${formatBytes(result.fromBytes)} to ${formatBytes(result.toBytes)}`,
    )
    return result
  }
}
