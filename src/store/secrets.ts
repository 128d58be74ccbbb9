import {createCipheriv, createDecipheriv, createHash, randomBytes} from 'node:crypto'
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs'

import {DbrokerError} from '../core/errors.js'

/** Envelope of a sealed value: version, key id, IV, ciphertext with its GCM tag. */
const ENVELOPE = 'dbx1'
const IV_BYTES = 12
const TAG_BYTES = 16

export const STORE_KEY_ENV = 'DBROKER_STORE_KEY'

/** A 32-byte AES key and the id its envelopes carry: a digest of the key, so ids need no configuration. */
export interface StoreKey {
  id: string
  bytes: Buffer
}

/** A secret the store can't open: a wrong or missing key, or a tampered value. The message never holds the secret. */
export class StoreKeyError extends DbrokerError {
  override readonly name = 'StoreKeyError'
}

export function storeKey(bytes: Buffer): StoreKey {
  if (bytes.length !== 32) throw new StoreKeyError(`a store key has 32 bytes, not ${bytes.length}`)
  return {id: createHash('sha256').update('dbroker store key\0').update(bytes).digest('hex').slice(0, 8), bytes}
}

export const generateStoreKey = (): StoreKey => storeKey(randomBytes(32))

/** 64 hex digits or base64 of 32 bytes. `source` names where it came from; the text itself is never echoed. */
export function parseStoreKey(text: string, source: string): StoreKey {
  const value = text.trim()
  const bytes = /^[0-9a-fA-F]{64}$/.test(value)
    ? Buffer.from(value, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(value)
      ? Buffer.from(value, 'base64')
      : undefined
  if (!bytes || bytes.length !== 32)
    throw new StoreKeyError(
      `${source} is not a store key: use 32 random bytes as 64 hex digits or base64`,
      'openssl rand -hex 32',
    )
  return storeKey(bytes)
}

/** Several keys, newest first: the first seals, all open (during a rotation the old one still reads). */
export function parseStoreKeys(text: string, source: string): StoreKey[] {
  const entries = text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
  if (entries.length === 0) throw new StoreKeyError(`${source} holds no store key`, 'openssl rand -hex 32')
  return entries.map((entry, i) => parseStoreKey(entry, entries.length > 1 ? `key ${i + 1} of ${source}` : source))
}

export function readStoreKeyFile(file: string): StoreKey[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new StoreKeyError(
      `cannot read the store key file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  return parseStoreKeys(text, `the store key file ${file}`)
}

/** Replaces a key file in one rename, mode 0600 from its first byte, so a crash leaves the old or the new file whole. */
export function writeStoreKeyFile(file: string, keys: StoreKey[]): void {
  const temp = `${file}.${process.pid}.tmp`
  const fd = openSync(temp, 'w', 0o600)
  try {
    writeSync(fd, keys.map((k) => k.bytes.toString('hex')).join('\n') + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  chmodSync(temp, 0o600)
  renameSync(temp, file)
}

/** The key file next to an embedded store: read, or made (0600) on the first start. */
export function dataDirStoreKeys(file: string): StoreKey[] {
  if (!existsSync(file)) writeStoreKeyFile(file, [generateStoreKey()])
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  return readStoreKeyFile(file)
}

/**
 * AES-256-GCM for the store's secret columns. Each value is bound to its
 * place (`table.column:rowkey`) as associated data, so a sealed value copied
 * into another row doesn't open there.
 */
export class SecretCipher {
  private readonly byId: Map<string, StoreKey>

  constructor(readonly keys: StoreKey[]) {
    if (keys.length === 0) throw new StoreKeyError('the store needs at least one key')
    this.byId = new Map(keys.map((k) => [k.id, k]))
  }

  /** The id of the key new values are sealed with. */
  get keyId(): string {
    return this.keys[0].id
  }

  static isSealed(text: string): boolean {
    return text.startsWith(`${ENVELOPE}.`)
  }

  /** The key id of a sealed value, or undefined for plaintext. */
  static keyIdOf(text: string): string | undefined {
    return SecretCipher.isSealed(text) ? text.split('.', 3)[1] : undefined
  }

  seal(plaintext: string, place: string): string {
    const key = this.keys[0]
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key.bytes, iv)
    cipher.setAAD(Buffer.from(place))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return `${ENVELOPE}.${key.id}.${iv.toString('base64url')}.${body.toString('base64url')}`
  }

  open(sealed: string, place: string): string {
    const parts = sealed.split('.')
    if (parts.length !== 4 || parts[0] !== ENVELOPE)
      throw new StoreKeyError(`the secret at ${place} is not a sealed value`)
    const key = this.byId.get(parts[1])
    if (!key) {
      throw new StoreKeyError(
        `the secret at ${place} is sealed with store key ${parts[1]}, but the key given is ${this.keys.map((k) => k.id).join(', ')}`,
        `start with the store's own key (${STORE_KEY_ENV}, --store-key-file, or store.key in the data dir)`,
      )
    }
    const iv = Buffer.from(parts[2], 'base64url')
    const body = Buffer.from(parts[3], 'base64url')
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES)
      throw new StoreKeyError(`the secret at ${place} is truncated`)
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, iv)
      decipher.setAAD(Buffer.from(place))
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      )
    } catch {
      throw new StoreKeyError(
        `the secret at ${place} fails its integrity check: it was altered, or belongs to another row`,
      )
    }
  }
}
