import path from 'node:path'

import {Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {confirm, yesFlag} from '../cli/confirm.js'
import {resolveTarget} from '../cli/contexts.js'
import {clearUpState, readUpState, stopProcess} from '../cli/detach.js'
import {removeAllInstances} from '../cli/services/instances.js'
import {DbrokerError} from '../core/errors.js'

export default class Down extends BrokerCommand {
  static override summary = 'Stop the broker that `dbroker up` runs for a data dir'
  static override description = `Finds the \`up\` by --data-dir, else the data dir the current context's \`up\` recorded (or --context's), else the user data dir. Containers keep running unless --purge, which first deprovisions every instance the broker made and deletes every deployment (their containers, volumes and disks on every host; their data is deleted): it asks in a terminal, scripts and CI pass --yes. Exits 1 when no \`up\` runs there.`
  static override examples = [
    '<%= config.bin %> down',
    '<%= config.bin %> down --purge',
    '<%= config.bin %> down --purge --yes',
    '<%= config.bin %> down --data-dir ./data --json',
  ]
  static override flags = {
    'data-dir': Flags.string({
      description:
        "data dir of the `up` to stop [default: the one the context's `up` recorded, else the user data dir]",
    }),
    purge: Flags.boolean({
      description: 'deprovision every instance and delete every deployment first (asks, unless --yes)',
    }),
    yes: yesFlag(),
    timeout: Flags.integer({default: 60, min: 1, description: 'seconds to wait for a clean stop before SIGKILL'}),
  }

  async run(): Promise<{
    running: boolean
    pid?: number
    purged: string[]
    deployments: string[]
    stopped?: 'stopped' | 'killed'
  }> {
    const {flags} = await this.parse(Down)
    const dataDir = this.dataDir(flags['data-dir'], flags.context)
    const state = readUpState(dataDir)
    if (!state)
      throw new DbrokerError(
        `dbroker up is not running for ${dataDir}; nothing stopped`,
        'name the one to stop with --data-dir DIR or --context NAME',
      )
    const purged: string[] = []
    const deleted: string[] = []
    if (flags.purge) {
      if (!flags.yes)
        await confirm(
          `Deprovision every instance and delete every deployment of the broker at ${state.url} (their data is deleted), then stop it?`,
          'pass --yes to purge without asking',
        )
      const {BrokerClient} = await import('../client/broker-client.js')
      const target = {...resolveTarget(this.contexts(), flags.context ?? state.context), url: state.url}
      const client = new BrokerClient(target)
      const {removed, failures} = await removeAllInstances(client, this.note)
      purged.push(...removed)
      if (failures.length)
        this.warn(`could not deprovision ${failures.length} instance(s):\n  ${failures.join('\n  ')}`)
      // Deployed containers are the broker's too: left running, nothing would own them once it stops.
      const {DeploymentsClient} = await import('../client/deployments-client.js')
      const deployments = new DeploymentsClient(client)
      const failed: string[] = []
      for (const {name} of await deployments.list()) {
        this.note(`deleting deployment ${name}`)
        await deployments.remove(name).then(
          () => deleted.push(name),
          (error: unknown) => failed.push(`${name}: ${(error as Error).message}`),
        )
      }
      if (failed.length) this.warn(`could not delete ${failed.length} deployment(s):\n  ${failed.join('\n  ')}`)
    }
    this.note(`stopping dbroker up (pid ${state.pid})`)
    const stopped = await stopProcess(state.pid, flags.timeout * 1000)
    clearUpState(dataDir, state.pid)
    const done = [
      ...(purged.length ? [`deprovisioned ${purged.length} instance(s)`] : []),
      ...(deleted.length ? [`deleted ${deleted.length} deployment(s)`] : []),
    ]
    this.log(`dbroker up (pid ${state.pid}) ${stopped}${done.map((d) => `; ${d}`).join('')}`)
    return {running: true, pid: state.pid, purged, deployments: deleted, stopped}
  }

  /** --data-dir, else what the chosen context's `up` recorded, else the user data dir. */
  private dataDir(flag: string | undefined, contextName: string | undefined): string {
    if (flag) return path.resolve(flag)
    const data = this.contexts().read()
    const recorded = data.contexts[contextName ?? process.env.DBROKER_CONTEXT ?? data.current ?? '']?.dataDir
    if (contextName && !data.contexts[contextName])
      throw new DbrokerError(`there is no context ${contextName}`, 'list them with `dbroker context list`')
    return recorded ?? path.resolve(this.config.dataDir)
  }
}
