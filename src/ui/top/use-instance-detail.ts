import {useEffect, useState} from 'react'

import type {InstanceDetail} from '../../core/admin.js'
import {errorMessage} from '../../core/errors.js'
import type {TopClient} from './client.js'

/** The open instance's detail while `active`, fetched again when `refresh` changes (the data did) or credentials are asked for. */
export function useInstanceDetail(
  client: TopClient,
  id: string | null,
  options: {active: boolean; credentials: boolean; refresh: unknown},
): {detail: InstanceDetail | null; error: string | null} {
  const [shown, setShown] = useState<{id: string | null; detail: InstanceDetail | null; error: string | null}>({
    id: null,
    detail: null,
    error: null,
  })
  useEffect(() => {
    if (!options.active || !id) return
    let stale = false
    client.instance(id, {credentials: options.credentials}).then(
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
