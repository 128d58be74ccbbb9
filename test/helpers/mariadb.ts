import {execFileSync, spawn, type ChildProcess} from 'node:child_process'

export const MARIADB = {
  service_id: 'a258a633-190f-4dfd-b02f-990abf680151',
  plan_id: '563c4f48-5e49-4fce-ad2e-108ed2a9abfb',
}

export type MariadbCredentials = {
  uri: string
  host: string
  username: string
  password: string
  port: number
  database: string
}

/** The real mariadb client's arguments for a binding; the password goes in MYSQL_PWD (env), never on argv. */
const clientArgs = (c: MariadbCredentials, database: string | undefined, sql: string) => [
  '--no-defaults',
  '--protocol=tcp',
  `--host=${c.host}`,
  `--port=${c.port}`,
  `--user=${c.username}`,
  '--batch',
  '--skip-column-names',
  '--connect-timeout=10',
  ...(database ? [`--database=${database}`] : []),
  '--execute',
  sql,
]
const clientEnv = (c: MariadbCredentials) => ({...process.env, MYSQL_PWD: c.password})

/** Runs SQL as a binding in its database (or `database`); rows tab-separated, no header. */
export function mariadb(c: MariadbCredentials, sql: string, database: string | null = c.database): string {
  return execFileSync('mariadb', clientArgs(c, database ?? undefined, sql), {
    encoding: 'utf8',
    stdio: 'pipe',
    env: clientEnv(c),
    timeout: 20_000,
  }).trim()
}

/** The client's error text, or '' when the SQL worked. */
export function mariadbError(c: MariadbCredentials, sql: string, database: string | null = c.database): string {
  try {
    mariadb(c, sql, database)
    return ''
  } catch (error) {
    return String((error as {stderr?: string}).stderr ?? error)
  }
}

/** A client that keeps running `sql` (e.g. a long SLEEP); the caller awaits or kills it. */
export function mariadbSession(
  c: MariadbCredentials,
  sql: string,
): {child: ChildProcess; exited: Promise<{code: number | null; stderr: string}>} {
  const child = spawn('mariadb', clientArgs(c, c.database, sql), {
    env: clientEnv(c),
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<{code: number | null; stderr: string}>((resolve) =>
    child.on('exit', (code) => resolve({code, stderr})),
  )
  return {child, exited}
}

/** SQL as root on the container's socket (unix_socket auth), as the lifecycle executables run it. */
export function mariadbRoot(containerId: string, sql: string): string {
  return execFileSync(
    'docker',
    [
      'exec',
      containerId,
      'mariadb',
      '--no-defaults',
      '--protocol=socket',
      '--socket=/run/mysqld/mysqld.sock',
      '--user=root',
      '--batch',
      '--skip-column-names',
      '--execute',
      sql,
    ],
    {encoding: 'utf8', stdio: 'pipe', timeout: 20_000},
  ).trim()
}

/** Runs a lifecycle executable in the container with a JSON document on stdin; its stdout. */
export function lifecycle(containerId: string, command: string[], document: Record<string, unknown>): string {
  return execFileSync('docker', ['exec', '-i', containerId, ...command], {
    encoding: 'utf8',
    stdio: 'pipe',
    input: JSON.stringify(document),
    timeout: 30_000,
  }).trim()
}

/** Every grant table row that names `username` (empty when the user left nothing behind). */
export function grantRowsOf(containerId: string, username: string): string {
  const tables = ['global_priv', 'db', 'tables_priv', 'columns_priv', 'procs_priv', 'proxies_priv']
  const rows = tables.map((table) => `SELECT '${table}' FROM mysql.${table} WHERE User = '${username}'`)
  rows.push(`SELECT 'roles_mapping' FROM mysql.roles_mapping WHERE User = '${username}' OR Role = '${username}'`)
  return mariadbRoot(containerId, rows.join(' UNION ALL '))
}
