import {EventEmitter} from 'node:events'

import type {ChangeEvent} from '../core/admin.js'

export type {ChangeEvent} from '../core/admin.js'

/** A change as the broker announces it; the stream stamps the time. */
export type ChangeInput = Omit<ChangeEvent, 'at'>

/** Every change the broker makes, for screens and logs; listeners never see secrets. */
export class BrokerEvents extends EventEmitter<{change: [ChangeEvent]}> {
  emitChange(event: ChangeInput): void {
    this.emit('change', {...event, at: Date.now()})
  }
}
