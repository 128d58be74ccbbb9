import {Flags} from '@oclif/core'

import {BrokerCommand} from '../cli/base-command.js'
import {setDrained} from '../cli/host-identity.js'
import {hostsTable, instancesTable} from '../cli/views.js'
import {type DeployedContainerSource, withDeployedContainers} from '../client/deployments-client.js'
import type {HostView, InstanceView} from '../core/admin.js'
import type {BrokerClient} from '../client/broker-client.js'

type ScreenModule = typeof import('../ui/top/run.js')

/**
 * The screen's code: the bundle `npm run build` makes of it (scripts/bundle-top.mjs: Ink and React
 * from node_modules cost ~0.5 s of CPU to import, the bundle ~0.06 s), else the modules tsc wrote.
 */
async function loadScreen(): Promise<ScreenModule> {
  const bundle = '../ui/top/bundle/run.js'
  try {
    return (await import(bundle)) as ScreenModule
  } catch (error) {
    if ((error as {code?: string}).code !== 'ERR_MODULE_NOT_FOUND') throw error
    return import('../ui/top/run.js')
  }
}

export default class Top extends BrokerCommand {
  static override summary = 'Live full-screen view of hosts and instances, with detail, logs, restart and deprovision'
  static override description = `Updates from the broker's event stream, and samples CPU and memory every --interval seconds. Keys: arrows or j/k, enter (an instance's or a host's detail), tab, / filter, esc, s sort (N V O H C M R A by column, again reverses), l logs (f follow, w wrap, t timestamps, / search), e events, x connect (the service's client, back to top when it exits), : switch context, c credentials, y copy a binding's URI (OSC 52), r restart, d deprovision, D drain a host (each asks first), ? help, q quit.

When stdout or stdin is not a terminal, or CI is set, it prints one snapshot of the hosts and instances and exits 0.`
  static override examples = [
    '<%= config.bin %> top',
    '<%= config.bin %> top --readonly --context prod',
    '<%= config.bin %> top | cat',
  ]
  static override flags = {
    readonly: Flags.boolean({description: 'disable restart and deprovision'}),
    interval: Flags.integer({default: 5, min: 1, description: 'seconds between CPU/memory samples'}),
    mouse: Flags.boolean({
      default: true,
      allowNo: true,
      description:
        "clicks select rows and the wheel scrolls; --no-mouse leaves the mouse to the terminal's own selection",
    }),
  }

  async run(): Promise<{hosts: HostView[]; instances: InstanceView[]} | void> {
    const {flags} = await this.parse(Top)
    // Every broker this screen shows, the first and each one `:` switches to, lists its deployed containers too.
    const brokerOf = async (context?: string) => withDeployedContainers(await this.client(context))
    const client = await brokerOf(flags.context)
    const interactive = process.stdout.isTTY && process.stdin.isTTY && !process.env.CI && !this.jsonEnabled()
    if (!interactive) {
      const [hosts, instances] = await Promise.all([client.hosts(), client.instances()])
      if (!this.jsonEnabled())
        process.stdout.write(`${hostsTable(hosts)}\n${instances.length ? instancesTable(instances) : 'no instances\n'}`)
      return {hosts, instances}
    }
    // Wrong or missing admin credentials fail here with the broker's answer, not as a screen that keeps reconnecting.
    // The rows are fetched while the screen's code loads, and the first frame draws them.
    const [{runTop}, hosts, instances] = await Promise.all([
      loadScreen(),
      client.hosts(),
      client.instances({stats: false}),
    ])
    const session = (c: BrokerClient & DeployedContainerSource) => ({
      client: c,
      target: `${c.target.context ? `${c.target.context} ` : ''}${c.target.url}`,
      context: c.target.context,
      onDrain: (host: string, drained: boolean) => setDrained(c, host, drained),
      connect: async (instanceId: string) => {
        const {connectInstance} = await import('../cli/services/connect.js')
        process.stderr.write(`connecting to ${instanceId}: the client's exit brings top back\n`)
        await connectInstance(c, await c.instance(instanceId), {progress: (line) => process.stderr.write(`${line}\n`)})
      },
    })
    await runTop({
      ...session(client),
      first: {hosts, instances},
      readonly: flags.readonly,
      color: !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb',
      statsIntervalMs: flags.interval * 1000,
      mouse: flags.mouse,
      contexts: () => Object.entries(this.contexts().read().contexts).map(([name, c]) => ({name, url: c.url})),
      openContext: async (name) => {
        const next = await brokerOf(name)
        await next.hosts()
        return session(next)
      },
    })
  }
}
