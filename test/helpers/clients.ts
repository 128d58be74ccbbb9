import {execFileSync} from 'node:child_process'

/** A client's uri without its password, and the password apart: it goes in the client's environment, not its arguments. */
function apart(uri: string): {uri: string; password: string} {
  const url = new URL(uri)
  const password = decodeURIComponent(url.password)
  url.password = ''
  return {uri: url.toString(), password}
}

/** Runs redis-cli against a binding's uri; what it prints (redis-cli exits 0 on a refused AUTH). */
export function redis(uri: string, ...args: string[]): string {
  // Not `-u`: redis-cli reads `redis://name@host` as a password, so the parts go apart and the password in the env.
  const url = new URL(uri)
  const where = ['-h', url.hostname, '-p', url.port || '6379']
  if (url.username) where.push('--user', decodeURIComponent(url.username))
  const db = url.pathname.replace(/^\//, '')
  if (db) where.push('-n', db)
  if (url.protocol === 'rediss:') where.push('--tls')
  const password = decodeURIComponent(url.password)
  return execFileSync('redis-cli', [...where, '--no-auth-warning', ...args], {
    encoding: 'utf8',
    stdio: 'pipe',
    timeout: 10_000,
    env: password ? {...process.env, REDISCLI_AUTH: password} : process.env,
  }).trim()
}

/** Runs one SQL statement with psql against a binding's uri; rows unaligned, tuples only. */
export function psql(uri: string, sql: string): string {
  const {uri: bare, password} = apart(uri)
  return execFileSync('psql', [bare, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
    stdio: 'pipe',
    timeout: 20_000,
    env: {...process.env, PGPASSWORD: password},
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
