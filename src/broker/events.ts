import {EventEmitter} from 'node:events'

import type {ChangeEvent} from '../core/admin.js'

export type {ChangeEvent} from '../core/admin.js'

/** Every change the broker makes, for screens and logs; listeners never see secrets. */
export class BrokerEvents extends EventEmitter<{change: [ChangeEvent]}> {
  emitChange(event: Omit<ChangeEvent, 'at'>): void {
    this.emit('change', {...event, at: Date.now()})
  }
}
