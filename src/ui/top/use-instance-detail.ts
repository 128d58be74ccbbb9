import {useEffect, useState} from 'react'

import type {InstanceDetail} from '../../core/admin.js'
import type {DeployedContainerDetail} from '../../core/deployments.js'
import {errorMessage} from '../../core/errors.js'
import type {TopClient} from './client.js'
import {deployedTarget} from './model.js'

/** What the detail view shows: an instance's detail, or a manifest's container's (a `deploy:` id). */
export type OpenDetail =
  {kind: 'instance'; detail: InstanceDetail} | {kind: 'deployed'; detail: DeployedContainerDetail}

function fetchDetail(client: TopClient, id: string, credentials: boolean): Promise<OpenDetail> {
  if (!deployedTarget(id)) return client.instance(id, {credentials}).then((detail) => ({kind: 'instance', detail}))
  if (!client.deployedContainer)
    return Promise.reject(new Error('this broker client cannot show a deployed container: `dbroker show` can'))
  return client.deployedContainer(id).then((detail) => ({kind: 'deployed', detail}))
}

/** The open instance's detail while `active`, fetched again when `refresh` changes (the data did) or credentials are asked for. */
export function useInstanceDetail(
  client: TopClient,
  id: string | null,
  options: {active: boolean; credentials: boolean; refresh: unknown},
): {detail: OpenDetail | null; error: string | null} {
  const [shown, setShown] = useState<{id: string | null; detail: OpenDetail | null; error: string | null}>({
    id: null,
    detail: null,
    error: null,
  })
  useEffect(() => {
    if (!options.active || !id) return
    let stale = false
    fetchDetail(client, id, options.credentials).then(
      (detail) => !stale && setShown({id, detail, error: null}),
      (error: unknown) => !stale && setShown((prev) => ({...prev, id, error: errorMessage(error)})),
    )
    return () => {
      stale = true
    }
  }, [client, id, options.active, options.credentials, options.refresh])
  // Another instance's detail is never shown while this one's loads.
  return shown.id === id ? {detail: shown.detail, error: shown.error} : {detail: null, error: null}
}
