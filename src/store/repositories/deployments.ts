import type {Insertable, Selectable} from 'kysely'

import type {DeploymentContainerState} from '../../core/deployments.js'
import type {ContainerSpec} from '../../core/types.js'
import {type Db, readJson, touched, writeJson} from '../db.js'
import type {DeploymentContainersTable, DeploymentsTable} from '../schema.js'
import {sealedRow} from '../sealed-columns.js'
import type {SecretCipher} from '../secrets.js'

export type DeploymentRow = Selectable<DeploymentsTable>
export type DeploymentContainerRow = Selectable<DeploymentContainersTable>

/**
 * pending: stored, its agent not yet told (a deploy is pushing it); ready: its
 * agent runs it; failed: the push failed, convergence keeps trying; removing:
 * it left the manifest, its agent is told to remove it.
 */
export type {DeploymentContainerState}

export interface StoredDeployment {
  name: string
  /** The manifest's file as the operator named it, for errors found later. */
  file: string
  /** The manifest's text, as deployed. */
  manifest: string
  /** 1 for the first deploy, one more for each after it. */
  version: number
  createdAt: number
  updatedAt: number
}

export interface DeploymentContainerRecord {
  instanceId: string
  deployment: string
  hostId: string
  name: string
  spec: ContainerSpec
  state: DeploymentContainerState
  error: string | null
  createdAt: number
  updatedAt: number
}

export type DeploymentContainerWrite = Pick<
  DeploymentContainerRecord,
  'instanceId' | 'hostId' | 'name' | 'spec' | 'state'
>

const toDeployment = (row: DeploymentRow, secrets: SecretCipher): StoredDeployment => ({
  name: row.name,
  file: row.file,
  manifest: sealedRow(secrets, 'deployments', row.name).open('manifest', row.manifest),
  version: Number(row.version),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
})

const toContainer = (row: DeploymentContainerRow, secrets: SecretCipher): DeploymentContainerRecord => ({
  instanceId: row.instance_id,
  deployment: row.deployment,
  hostId: row.host_id,
  name: row.name,
  spec: readJson(sealedRow(secrets, 'deployment_containers', row.instance_id).open('spec', row.spec)),
  state: row.state as DeploymentContainerState,
  error: row.error,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
})

export async function getDeployment(
  db: Db,
  secrets: SecretCipher,
  name: string,
): Promise<StoredDeployment | undefined> {
  const row = await db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst()
  return row && toDeployment(row, secrets)
}

export async function listDeployments(db: Db, secrets: SecretCipher): Promise<StoredDeployment[]> {
  return (await db.selectFrom('deployments').selectAll().orderBy('name').execute()).map((r) => toDeployment(r, secrets))
}

/** Containers in the order they were stored (the manifest's, per host), of one deployment, host or set of states. */
export async function listContainers(
  db: Db,
  secrets: SecretCipher,
  filter: {deployment?: string; hostId?: string; states?: DeploymentContainerState[]} = {},
): Promise<DeploymentContainerRecord[]> {
  let query = db.selectFrom('deployment_containers').selectAll()
  if (filter.deployment !== undefined) query = query.where('deployment', '=', filter.deployment)
  if (filter.hostId !== undefined) query = query.where('host_id', '=', filter.hostId)
  if (filter.states) query = query.where('state', 'in', filter.states)
  const rows = await query
    .orderBy('deployment')
    .orderBy('host_id')
    .orderBy('created_at')
    .orderBy('instance_id')
    .execute()
  return rows.map((r) => toContainer(r, secrets))
}

export async function getContainer(
  db: Db,
  secrets: SecretCipher,
  instanceId: string,
): Promise<DeploymentContainerRecord | undefined> {
  const row = await db
    .selectFrom('deployment_containers')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .executeTakeFirst()
  return row && toContainer(row, secrets)
}

/**
 * Writes a deploy: the deployment with its next version, and every container
 * given (new ones inserted, known ones updated). Call inside a transaction with
 * the port allocation, so a deploy that fails half-way leaves nothing.
 */
export async function saveDeployment(
  db: Db,
  secrets: SecretCipher,
  deployment: Pick<StoredDeployment, 'name' | 'file' | 'manifest'>,
  containers: DeploymentContainerWrite[],
  now: number,
): Promise<number> {
  const manifest = sealedRow(secrets, 'deployments', deployment.name).seal('manifest', deployment.manifest)
  const before = await db
    .selectFrom('deployments')
    .select('version')
    .where('name', '=', deployment.name)
    .executeTakeFirst()
  const version = Number(before?.version ?? 0) + 1
  if (before)
    await db
      .updateTable('deployments')
      .set({file: deployment.file, manifest, version, updated_at: now})
      .where('name', '=', deployment.name)
      .execute()
  else
    await db
      .insertInto('deployments')
      .values({name: deployment.name, file: deployment.file, manifest, version, created_at: now, updated_at: now})
      .execute()
  for (const c of containers) {
    const spec = sealedRow(secrets, 'deployment_containers', c.instanceId).seal('spec', writeJson(c.spec))
    const row: Insertable<DeploymentContainersTable> = {
      instance_id: c.instanceId,
      deployment: deployment.name,
      host_id: c.hostId,
      name: c.name,
      spec,
      state: c.state,
      error: null,
      created_at: now,
      updated_at: now,
    }
    await db
      .insertInto('deployment_containers')
      .values(row)
      .onConflict((oc) => oc.column('instance_id').doUpdateSet({spec, state: c.state, error: null, updated_at: now}))
      .execute()
  }
  return version
}

export async function setContainerState(
  db: Db,
  instanceId: string,
  state: DeploymentContainerState,
  error: string | null,
  now: number,
): Promise<boolean> {
  return touched(
    await db
      .updateTable('deployment_containers')
      .set({state, error, updated_at: now})
      .where('instance_id', '=', instanceId)
      .executeTakeFirst(),
  )
}

/** Deletes a container's row with the host ports it was given. */
export async function deleteContainer(db: Db, instanceId: string): Promise<void> {
  await db.deleteFrom('ports').where('instance_id', '=', instanceId).execute()
  await db.deleteFrom('deployment_containers').where('instance_id', '=', instanceId).execute()
}

/** Deletes a deployment that has no container left; false while one is still there. */
export async function deleteDeployment(db: Db, name: string): Promise<boolean> {
  const left = await db
    .selectFrom('deployment_containers')
    .select('instance_id')
    .where('deployment', '=', name)
    .limit(1)
    .executeTakeFirst()
  if (left) return false
  return touched(await db.deleteFrom('deployments').where('name', '=', name).executeTakeFirst())
}

/** The repository on one database or transaction, as the Store hands it out. */
export const deploymentRepository = (db: Db, secrets: SecretCipher) => ({
  get: (name: string) => getDeployment(db, secrets, name),
  list: () => listDeployments(db, secrets),
  containers: (filter?: Parameters<typeof listContainers>[2]) => listContainers(db, secrets, filter),
  container: (instanceId: string) => getContainer(db, secrets, instanceId),
  save: (
    deployment: Pick<StoredDeployment, 'name' | 'file' | 'manifest'>,
    containers: DeploymentContainerWrite[],
    now = Date.now(),
  ) => saveDeployment(db, secrets, deployment, containers, now),
  setState: (instanceId: string, state: DeploymentContainerState, error: string | null = null, now = Date.now()) =>
    setContainerState(db, instanceId, state, error, now),
  deleteContainer: (instanceId: string) => deleteContainer(db, instanceId),
  delete: (name: string) => deleteDeployment(db, name),
})

export type DeploymentRepository = ReturnType<typeof deploymentRepository>
