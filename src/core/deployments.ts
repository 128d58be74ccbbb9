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

/**
 * One deployed container in detail (`GET /admin/v1/deployed-containers/:id`): its state as the list has it, and what
 * its spec asks for. Never its environment or command: a manifest may put credentials there.
 */
export type DeployedContainerDetail = DeployedContainerView & {
  /** The engine's name of the container (`docker ps`). */
  containerName: string
  /** Its restart policy. */
  restart: string
  memoryLimitBytes: number | null
  nanoCpus: number | null
  volumes: Array<{name: string; path: string}>
  /** Host directories bound into it (`bind_volumes`). */
  binds: Array<{source: string; path: string; readOnly: boolean}>
  /** Its own sized disk; null: none. */
  disk: {path: string; sizeBytes: number} | null
  /** The deployment's network on its host as the engine names it, where the other containers reach it by `aliases`. */
  network: {name: string; aliases: string[]} | null
}

/** What every deployed container's id starts with; OSB instance ids may not. */
export const KEY_PREFIX = 'deploy:'

/** The parts of a deployed container's id (`deploy:<deployment>:<host>:<container>`); undefined for any other id. */
export function parseDeploymentKey(id: string): {deployment: string; host: string; container: string} | undefined {
  const parts = id.startsWith(KEY_PREFIX) ? id.slice(KEY_PREFIX.length).split(':') : []
  return parts.length === 3 ? {deployment: parts[0], host: parts[1], container: parts[2]} : undefined
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
