import type {ChangeEvent, HostView, InstanceDetail, InstanceView} from '../../core/admin.js'

/** What `dbroker top` needs from a broker; the HTTP client fits it, tests and benches fake it. */
export interface TopClient {
  hosts(): Promise<HostView[]>
  instances(options?: {stats?: boolean}): Promise<InstanceView[]>
  instance(ref: string, options?: {credentials?: boolean}): Promise<InstanceDetail>
  logs(
    ref: string,
    options: {
      tail?: number
      since?: string
      follow?: boolean
      timestamps?: boolean
      signal?: AbortSignal
      onOpen?: () => void
    },
  ): AsyncIterable<string>
  /** Change events until the signal aborts; `onOpen` once the stream is connected. */
  events(signal?: AbortSignal, onOpen?: () => void): AsyncIterable<ChangeEvent>
  restart(ref: string): Promise<unknown>
  remove(ref: string): Promise<unknown>
}
