import type {LogSource} from '../../client/log-stream.js'
import type {ChangeEvent, HostView, InstanceDetail, InstanceView} from '../../core/admin.js'
import type {DeployedContainerDetail} from '../../core/deployments.js'

/** What `dbroker top` needs from a broker; the HTTP client fits it, tests and benches fake it. */
export interface TopClient extends LogSource {
  hosts(): Promise<HostView[]>
  instances(options?: {stats?: boolean}): Promise<InstanceView[]>
  instance(ref: string, options?: {credentials?: boolean}): Promise<InstanceDetail>
  /** A manifest's container in detail, by its `deploy:` id (a client without it: top says the broker can't show one). */
  deployedContainer?(id: string): Promise<DeployedContainerDetail>
  /** Change events until the signal aborts; `onOpen` once the stream is connected. */
  events(signal?: AbortSignal, onOpen?: () => void): AsyncIterable<ChangeEvent>
  /** The changes the broker saw before top started, oldest first (a broker without the route: none). */
  recentEvents?(limit?: number): Promise<ChangeEvent[]>
  /** `force`: a shared or adopted container (every instance in it is interrupted); the broker refuses it otherwise. */
  restart(ref: string, options?: {force?: boolean}): Promise<unknown>
  remove(ref: string): Promise<unknown>
}
