import {type BrokerClient, BrokerRequestError} from './broker-client.js'

/**
 * One admin API call over a broker client's connection and credentials: the
 * JSON answer, or an error with the broker's description. `refuse` may turn
 * an answer into an error of its own first (a 400 with problems, ...).
 */
export async function adminRequest<T>(
  broker: Pick<BrokerClient, 'fetch' | 'target'>,
  method: string,
  path: string,
  options: {body?: unknown; query?: Record<string, string>} = {},
  refuse?: (status: number, body: Record<string, unknown> & {description?: string}) => Error | undefined,
): Promise<T> {
  const response = await broker.fetch(method, path, {admin: true, ...options})
  const text = await response.text()
  let parsed: Record<string, unknown> & {description?: string}
  try {
    parsed = text ? JSON.parse(text) : {}
  } catch {
    parsed = {description: text.slice(0, 200)}
  }
  if (response.status === 401)
    throw new BrokerRequestError(
      401,
      `the broker at ${broker.target.url} refused the admin credentials`,
      'check them with `dbroker context list`; `dbroker up` prints the local ones',
    )
  const refused = refuse?.(response.status, parsed)
  if (refused) throw refused
  if (!response.ok) throw new BrokerRequestError(response.status, parsed?.description ?? `HTTP ${response.status}`)
  return parsed as T
}
