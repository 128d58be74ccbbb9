import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {promisify} from 'node:util'

/** What a binding's psql needs: the credentials a bind answered. */
export type PsqlBinding = {username: string; password: string; port: number; database: string}

const psqlArgs = (b: PsqlBinding, sql: string, database: string) =>
  ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(b.port)].concat([
    '-U',
    b.username,
    '-d',
    database,
    '-c',
    sql,
  ])
const psqlEnv = (b: PsqlBinding) => ({...process.env, PGPASSWORD: b.password, PGCONNECT_TIMEOUT: '10'})

/** psql as a binding (its password in the env, never argv): its rows, or its error text. */
export async function as(b: PsqlBinding, sql: string, database = b.database): Promise<string> {
  try {
    const {stdout} = await promisify(execFile)('psql', psqlArgs(b, sql, database), {
      encoding: 'utf8',
      timeout: 60_000,
      env: psqlEnv(b),
    })
    return stdout.trim()
  } catch (error) {
    const {stdout, stderr} = error as {stdout?: string; stderr?: string}
    return `${stdout ?? ''}${stderr ?? ''}`.trim()
  }
}

/** A psql session of a binding running `sql`: how it ended (exit code) and what it said on stderr. */
export function session(
  b: PsqlBinding,
  sql: string,
): {child: ChildProcess; ended: Promise<{code: number | null; stderr: string}>} {
  const child = spawn('psql', psqlArgs(b, sql, b.database), {env: psqlEnv(b), stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return {child, ended: new Promise((resolve) => child.on('exit', (code) => resolve({code, stderr})))}
}
