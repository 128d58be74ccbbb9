/** What the admin API answers about manifest deploys: shared by the broker, the client and the CLI. */
import type {InstanceView} from './admin.js'

export type DeploymentContainerState = 'pending' | 'ready' | 'failed' | 'removing'

export type DiffAction = 'create' | 'recreate' | 'update' | 'restart' | 'remove' | 'unchanged'

export interface DeploymentDiffView {
  deployment: string
  hosts: Array<{
    host: string
    steps: Array<{action: DiffAction; container: string; instanceId: string; changes: string[]; after?: string[]}>
  }>
  summary: Record<DiffAction, number>
}

/** A deployed container as `dbroker instances` and `top` list it, beside service instances: service "deploy", plan the deployment. */
export type DeployedContainerView = InstanceView & {
  deployment: string
  /** Where the deploy left it; `state` says the same in the instances' words. */
  deployState: DeploymentContainerState
  error: string | null
  image: string
  dependsOn: string[]
}

export interface DeploymentView {
  name: string
  file: string
  version: number
  createdAt: number
  updatedAt: number
  containers: DeployedContainerView[]
}

/** What became of one container in a deploy or a delete. */
export interface ContainerOutcome {
  host: string
  container: string
  instanceId: string
  action: DiffAction
  state: DeploymentContainerState | 'removed'
  error?: string
}

export interface DeployResult {
  deployment: string
  /** Absent for a dry run: nothing was stored. */
  version?: number
  dryRun: boolean
  diff: DeploymentDiffView
  /** The diff as `--dry-run` prints it. */
  lines: string[]
  containers: ContainerOutcome[]
}

export interface DeleteDeploymentResult {
  deployment: string
  /** False while a host has yet to remove a container (it is told again later). */
  deleted: boolean
  containers: ContainerOutcome[]
}
