import {EventEmitter} from 'node:events'

export interface ChangeEvent {
  kind: 'host' | 'instance' | 'binding' | 'operation'
  id: string
  action: string
  instanceId?: string
  state?: string
  description?: string
  at: number
}

/** Every change the broker makes, for screens and logs; listeners never see secrets. */
export class BrokerEvents extends EventEmitter<{change: [ChangeEvent]}> {
  emitChange(event: Omit<ChangeEvent, 'at'>): void {
    this.emit('change', {...event, at: Date.now()})
  }
}
