import {readFileSync} from 'node:fs'
import path from 'node:path'

import {DeploymentsClient} from '../../client/deployments-client.js'
import type {BrokerClient} from '../../client/broker-client.js'
import type {DeployedContainerView, DeploymentView, DeployResult} from '../../core/deployments.js'
import {DbrokerError} from '../../core/errors.js'
import {endpoint, formatDuration, instanceHealth, instanceTone} from '../../core/format.js'
import {loadManifest} from '../../manifest/index.js'
import {type Column, renderTable} from '../table.js'
import type {Progress} from './broker.js'

export interface DeployOptions {
  /** Answer the diff only: nothing is stored, no port reserved, no container touched. */
  dryRun?: boolean
  progress?: Progress
}

/**
 * `dbroker deploy FILE`: checks the manifest here first (errors name this
 * file, path and line), then sends it to the broker, which checks it against
 * its hosts, stores it and waits for the agents. Containers that failed make
 * it an error after the result is known.
 */
export async function deployManifest(
  client: Pick<BrokerClient, 'fetch' | 'target'>,
  file: string,
  options: DeployOptions = {},
): Promise<DeployResult> {
  const deployment = loadManifest(file)
  const text = readFileSync(file, 'utf8')
  options.progress?.(`${options.dryRun ? 'comparing' : 'deploying'} ${deployment.name} (${file})`)
  // The broker resolves build contexts against the file's directory: the absolute path finds it on this machine.
  return new DeploymentsClient(client).deploy(
    deployment.name,
    {file: path.resolve(file), text},
    {dryRun: options.dryRun},
  )
}

/** The lines `deploy` prints: the diff, then each container that did not come up and why. */
export function deployResultText(result: DeployResult): string {
  const failed = result.containers.filter((c) => c.error)
  const lines = [
    ...result.lines,
    ...(result.dryRun ? ['(dry run: nothing changed)'] : [`${result.deployment}: version ${result.version} stored`]),
    ...failed.map((c) => `${c.host}  ! ${c.container}: ${c.state}: ${c.error}`),
  ]
  return `${lines.join('\n')}\n`
}

/** An error when a container of a real deploy did not come up: the deploy is stored, convergence keeps trying. */
export function deployFailure(result: DeployResult): DbrokerError | undefined {
  const failed = result.containers.filter((c) => c.error)
  if (failed.length === 0) return undefined
  return new DbrokerError(
    `${failed.length} container(s) of ${result.deployment} did not come up: ${failed.map((c) => `${c.container} (${c.error})`).join('; ')}`,
    `see them with \`dbroker deploy status ${result.deployment}\`; the hosts keep trying`,
  )
}

export function deploymentsStatus(
  client: Pick<BrokerClient, 'fetch' | 'target'>,
  name?: string,
): Promise<DeploymentView[]> {
  const deployments = new DeploymentsClient(client)
  return name ? deployments.get(name).then((d) => [d]) : deployments.list()
}

type StatusRow = DeployedContainerView & {version: number}

export function deploymentsTable(deployments: DeploymentView[], options: {color?: boolean} = {}): string {
  const rows: StatusRow[] = deployments.flatMap((d) => d.containers.map((c) => ({...c, version: d.version})))
  const columns: Array<Column<StatusRow>> = [
    {header: 'deployment', value: (c) => `${c.deployment} v${c.version}`},
    {header: 'container', value: (c) => c.name ?? '-'},
    {header: 'host', value: (c) => c.hostId},
    {header: 'state', value: (c) => c.deployState},
    {header: 'health', value: instanceHealth, tone: instanceTone},
    {header: 'endpoint', value: endpoint},
    {header: 'image', value: (c) => c.image},
    {header: 'depends on', value: (c) => c.dependsOn.join(',') || '-'},
    {header: 'error', value: (c) => c.error ?? '-'},
  ]
  const empty = deployments.filter((d) => d.containers.length === 0).map((d) => `${d.name}: no containers\n`)
  const age = deployments.map(
    (d) => `${d.name}: version ${d.version}, deployed ${formatDuration(Date.now() - d.updatedAt)} ago from ${d.file}\n`,
  )
  return `${rows.length ? renderTable(rows, columns, options) : ''}${empty.join('')}${age.join('')}`
}
