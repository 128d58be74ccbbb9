import type {BrokerClient} from '../../client/broker-client.js'

/** What the CLI's services use of a broker: the HTTP client fits it, unit tests fake it. */
export type CliBroker = Pick<
  BrokerClient,
  | 'target'
  | 'catalog'
  | 'provision'
  | 'update'
  | 'deprovision'
  | 'bind'
  | 'unbind'
  | 'lastOperation'
  | 'findInstance'
  | 'instance'
  | 'instances'
  | 'remove'
>

/** Progress for people, on stderr; the services never write results. */
export type Progress = (line: string) => void

/** Whether the client can look instances up by name (the admin API needs its own credentials). */
export const canLookUp = (client: CliBroker) => Boolean(client.target.adminUsername && client.target.adminPassword)
