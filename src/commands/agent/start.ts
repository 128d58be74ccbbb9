import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {untilStopped} from '../../cli/signals.js'
import {createLogger, type LogLevel} from '../../core/log.js'
import {loadAgentConfig, startAgentProcess} from '../../system/agent.js'
import {parseLabels} from '../../system/settings.js'

export default class AgentStart extends BaseCommand {
  static override summary =
    "Run the agent of one Docker host: register it with the brokers and run the host's containers"
  static override description = `Registers the host with the broker(s) and heartbeats every --keepalive with the engine's facts and the state of its containers. Each answer carries the containers the host should run; the agent converges to them, so a container removed behind its back, a restarted engine or a wiped host come back with the same port, credentials and volume. While no broker answers it retries with backoff, and the containers keep running.

The host's own token comes from \`dbroker hosts add HOST\` on the operator's side: give it in a file (--token-file, mode 0600) or DBROKER_AGENT_TOKEN. With it the agent registers and heartbeats as this host only, and its API (on 127.0.0.1 unless --listen says otherwise; HTTPS with --tls-cert/--tls-key) accepts only the brokers' credential for this host. Plain http brokers or agent API off 127.0.0.1, and a tcp:// engine without TLS, are refused unless --insecure.

Every setting can come from --config (YAML, snake_case keys as the flags) and be overridden by a flag.`

  static override examples = [
    '<%= config.bin %> agent start --config /etc/dbroker/agent.yml',
    '<%= config.bin %> agent start --id h1 --token-file /etc/dbroker/h1.token --service-address 10.0.0.5 --listen 10.0.0.5:9997 --tls-cert c.pem --tls-key k.pem --broker https://broker:9998',
  ]

  static override flags = {
    config: Flags.string({char: 'c', description: 'YAML file with the settings below (flags win)'}),
    id: Flags.string({description: "the host's name in the broker [default: the machine's host name]"}),
    'docker-host': Flags.string({
      description:
        'the engine: unix:///var/run/docker.sock or tcp://HOST:2376 [default: DOCKER_HOST, else the local socket]',
    }),
    'docker-tls-ca': Flags.string({description: 'CA of a tcp engine'}),
    'docker-tls-cert': Flags.string({description: 'client certificate for a tcp engine'}),
    'docker-tls-key': Flags.string({description: 'client key for a tcp engine'}),
    'service-address': Flags.string({
      description: 'address written into credentials, where applications reach the containers',
    }),
    'bind-address': Flags.string({description: 'address published ports bind to [default: the service address]'}),
    'port-range': Flags.string({description: 'host ports instances get, MIN-MAX [default: 40000-40999]'}),
    'max-containers': Flags.integer({min: 1, description: 'most instances this host takes'}),
    'max-memory': Flags.string({description: "most memory the host's instances may reserve in total (e.g. 8g)"}),
    zone: Flags.string({description: 'zone of the host, for plan placement rules'}),
    label: Flags.string({
      multiple: true,
      description: 'KEY=VALUE label of the host, for plan placement rules (repeatable)',
    }),
    broker: Flags.string({multiple: true, description: 'broker URL (repeatable: tried in turn)'}),
    'broker-ca': Flags.string({description: "CA of the brokers' TLS certificates"}),
    token: Flags.string({
      env: 'DBROKER_AGENT_TOKEN',
      description:
        "this host's token from `dbroker hosts add`: DBROKER_AGENT_TOKEN or --token-file (as an argument it is refused)",
    }),
    'token-file': Flags.string({description: "file (0600) holding this host's token from `dbroker hosts add`"}),
    keepalive: Flags.string({description: 'heartbeat interval, e.g. 5s [default: 5s]'}),
    'max-backoff': Flags.string({
      description: 'longest wait between heartbeat attempts while no broker answers [default: 2 x keepalive]',
    }),
    listen: Flags.string({description: "HOST:PORT of the agent's API [default: 127.0.0.1:9997]"}),
    url: Flags.string({
      description: 'URL brokers reach the agent at [default: from --listen, the service address when that is 0.0.0.0]',
    }),
    insecure: Flags.boolean({
      description: 'allow plain http off loopback (brokers, this API) and a tcp engine without TLS',
    }),
    'tls-cert': Flags.string({description: "certificate of the agent's API (HTTPS)"}),
    'tls-key': Flags.string({description: "key of the agent's API (HTTPS)"}),
    'disks-dir': Flags.string({
      description: "where loop disks live, outside the engine's data root [default: /var/lib/dbroker/disks]",
    }),
    'manage-engine': Flags.boolean({
      description:
        "start dockerd again when it stops, as it ran (read from --engine-pidfile), and apply the broker's registry settings to its daemon.json",
    }),
    'engine-pidfile': Flags.string({description: "dockerd's pidfile [default: /var/run/docker.pid]"}),
    'disk-driver': Flags.string({
      options: ['loop', 'volume'],
      description:
        'disks of specs that name no driver [default: loop where Linux, root and the kernel allow, else volume]',
    }),
  }

  async run(): Promise<{id: string; url: string}> {
    const {flags} = await this.parse(AgentStart)
    this.refuseSecretArguments({token: 'DBROKER_AGENT_TOKEN'}, ', or give it in --token-file')
    const log = createLogger(flags['log-level'] as LogLevel)
    const tls = flags['tls-cert'] || flags['tls-key'] ? {cert: flags['tls-cert'], key: flags['tls-key']} : undefined
    const dockerTls =
      flags['docker-tls-cert'] || flags['docker-tls-key']
        ? {ca: flags['docker-tls-ca'], cert: flags['docker-tls-cert'], key: flags['docker-tls-key']}
        : undefined
    const config = loadAgentConfig(flags.config, {
      id: flags.id,
      docker: {host: flags['docker-host'] ?? process.env.DOCKER_HOST, tls: dockerTls},
      service_address: flags['service-address'],
      bind_address: flags['bind-address'],
      port_range: flags['port-range'],
      capacity: {max_containers: flags['max-containers'], memory: flags['max-memory']},
      zone: flags.zone,
      labels: parseLabels(flags.label),
      brokers: flags.broker,
      broker_ca: flags['broker-ca'],
      token: flags.token,
      token_file: flags['token-file'],
      insecure: flags.insecure || undefined,
      keepalive: flags.keepalive,
      max_backoff: flags['max-backoff'],
      listen: flags.listen,
      url: flags.url,
      tls,
      disks_dir: flags['disks-dir'],
      disk_driver: flags['disk-driver'],
      manage_engine: flags['manage-engine'] || undefined,
      engine_pidfile: flags['engine-pidfile'],
    })
    const agent = await startAgentProcess(config, log)
    const result = {id: config.id, url: agent.url}
    if (this.jsonEnabled()) process.stdout.write(JSON.stringify(result) + '\n')
    else this.log(`agent of host ${config.id} serves ${agent.url}; brokers: ${config.brokers.join(', ')}`)
    await untilStopped(log, 'agent (its containers keep running)')
    await agent.close()
    this.exit(0)
  }
}
