import path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {readUpState} from '../../cli/detach.js'
import {UsageError} from '../../core/errors.js'
import {type RotationResult, rotateStoreKey} from '../../system/store-key-rotation.js'

export default class SecretsRotate extends BaseCommand {
  static override summary = 'Re-encrypt every secret in the store with a new key'
  static override description = `For the store of \`dbroker up\` (--data-dir): makes a new key, re-encrypts every password, spec and parameter with it in one transaction, and replaces DATA_DIR/store.key. Stop \`dbroker up\` first.

For a store of \`broker start\` (--store with --store-key-file or DBROKER_STORE_KEY): the key file lists the new key first and the old one after it. Give every broker that file and restart them (they read with both keys and write with the new one), run this, then remove the old line.`

  static override examples = [
    '<%= config.bin %> secrets rotate',
    '<%= config.bin %> secrets rotate --data-dir ./data',
    '(openssl rand -hex 32; cat store.key) > store.key.next && mv store.key.next store.key && <%= config.bin %> secrets rotate --store postgres://dbroker@db/dbroker --store-key-file store.key',
  ]

  static override flags = {
    'data-dir': Flags.string({
      description: 'data dir of `dbroker up` [default: the user data dir]',
      exclusive: ['store'],
    }),
    store: Flags.string({
      env: 'DBROKER_STORE',
      description: 'sqlite:PATH or postgres://USER:PASS@HOST/DB of `broker start`',
    }),
    'store-key-file': Flags.string({
      env: 'DBROKER_STORE_KEY_FILE',
      description: 'keys, one per line: the new one first, then the old',
    }),
  }

  async run(): Promise<RotationResult> {
    const {flags} = await this.parse(SecretsRotate)
    let store = flags.store
    if (!store) {
      const dataDir = path.resolve(flags['data-dir'] ?? this.config.dataDir)
      const running = readUpState(dataDir)
      if (running)
        throw new UsageError(
          `dbroker up (pid ${running.pid}) is running on ${dataDir}: stop it first (\`dbroker down\` or Ctrl-C)`,
        )
      store = `sqlite:${path.join(dataDir, 'dbroker.db')}`
    }
    const result = await rotateStoreKey({store, keyFile: flags['store-key-file']})
    const rows = result.resealed.filter((c) => c.rows > 0).map((c) => `${c.rows} ${c.table}`)
    this.log(
      `re-encrypted ${rows.join(', ') || 'nothing (every secret already had this key)'} with store key ${result.keyId}${result.previousKeyIds.length ? ` (was ${result.previousKeyIds.join(', ')})` : ''}`,
    )
    if (result.keyFile) this.log(`the new key is in ${result.keyFile}; the old one is gone`)
    else if (result.previousKeyIds.length) this.log('every broker can now drop the old key from its key file')
    return result
  }
}
