import {execFileSync} from 'node:child_process'

/** Runs redis-cli against a binding's uri; what it prints (redis-cli exits 0 on a refused AUTH). */
export function redis(uri: string, ...args: string[]): string {
  return execFileSync('redis-cli', ['-u', uri, '--no-auth-warning', ...args], {
    encoding: 'utf8',
    stdio: 'pipe',
    timeout: 10_000,
  }).trim()
}

/** Runs one SQL statement with psql against a binding's uri; rows unaligned, tuples only. */
export function psql(uri: string, sql: string): string {
  return execFileSync('psql', [uri, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
    stdio: 'pipe',
    timeout: 20_000,
  }).trim()
}

/** psql's error text, or '' when the statement worked. */
export function psqlError(uri: string, sql: string): string {
  try {
    psql(uri, sql)
    return ''
  } catch (error) {
    return String((error as {stderr?: string}).stderr ?? error)
  }
}
