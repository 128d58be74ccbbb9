import {DbrokerError} from '../../core/errors.js'

export const CREDENTIALS_FORMATS = ['json', 'env', 'dotenv', 'uri'] as const
export type CredentialsFormat = (typeof CREDENTIALS_FORMATS)[number]

/** PREFIX_URL, _HOST, _PORT, _USERNAME, _PASSWORD (and _DATABASE, a shared redis plan's _KEY_PREFIX) from a binding's credentials. */
export function credentialVariables(credentials: Record<string, unknown>, prefix: string): Array<[string, string]> {
  const p = prefix
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
  const name = (suffix: string) => (p ? `${p}_${suffix}` : suffix)
  const fields: Array<[string, unknown]> = [
    ['URL', credentials.uri],
    ['HOST', credentials.host],
    ['PORT', credentials.port],
    ['USERNAME', credentials.username],
    ['PASSWORD', credentials.password],
    ['DATABASE', credentials.database],
    ['KEY_PREFIX', credentials.key_prefix],
  ]
  return fields.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [name(k), String(v)])
}

/**
 * A binding in a shared redis may only touch its instance's keys (its ACL allows `~<prefix>*`): what to tell its
 * user before they type a key, or nothing for a binding without a key_prefix.
 */
export function keyPrefixNote(credentials: Record<string, unknown>): string | undefined {
  const prefix = credentials.key_prefix
  if (typeof prefix !== 'string' || prefix === '') return undefined
  return `keys must start with ${prefix} — the binding's ACL allows only ~${prefix}* (e.g. SET ${prefix}greeting hello)`
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`
const dotenvQuote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`

export function formatCredentials(
  credentials: Record<string, unknown>,
  format: CredentialsFormat,
  prefix: string,
): string {
  switch (format) {
    case 'json':
      return JSON.stringify(credentials, null, 2) + '\n'
    case 'uri':
      if (typeof credentials.uri !== 'string') throw new DbrokerError('the binding has no uri')
      return `${credentials.uri}\n`
    case 'env':
      return credentialVariables(credentials, prefix)
        .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
        .join('')
    case 'dotenv':
      return credentialVariables(credentials, prefix)
        .map(([k, v]) => `${k}=${dotenvQuote(v)}\n`)
        .join('')
  }
}
