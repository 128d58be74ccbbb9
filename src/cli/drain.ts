import type {BrokerClient} from '../client/broker-client.js'
import {DbrokerError} from '../core/errors.js'

/** Drains or undrains one host through the admin API; the broker's description on failure. */
export async function setDrained(
  client: BrokerClient,
  host: string,
  drained: boolean,
): Promise<{id: string; drained: boolean}> {
  const response = await client.fetch(
    'POST',
    `/admin/v1/hosts/${encodeURIComponent(host)}/${drained ? 'drain' : 'undrain'}`,
    {admin: true},
  )
  const text = await response.text()
  const body = (text ? JSON.parse(text) : {}) as {id: string; drained: boolean; description?: string}
  if (response.status === 401)
    throw new DbrokerError('the broker refused the admin credentials', 'check them with `dbroker context list`')
  if (!response.ok)
    throw new DbrokerError(
      body.description ?? `the broker answered ${response.status}`,
      response.status === 404 ? 'list the hosts with `dbroker hosts`' : undefined,
    )
  return body
}
