import {execFileSync} from 'node:child_process'
import {chownSync, existsSync, mkdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

const PG_BIN = '/usr/lib/postgresql/15/bin'

const run = (file: string, args: string[]) =>
  execFileSync(file, args, {encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe']})

export interface TestPostgres {
  /** A URL for database `db` as the `dbroker` superuser. */
  url(db?: string): string
  createDatabase(name: string): void
  /** Runs SQL as the superuser in database `db`; the output of psql. */
  sql(statement: string, db?: string): string
  stop(): void
}

/**
 * PostgreSQL 15 from Debian in `dir` (made here, owned by the postgres user:
 * initdb refuses to run as root; its parent must let that user through), on
 * 127.0.0.1:`port`, trust auth, no fsync.
 * stop() kills it even when it no longer answers; the caller removes `dir`.
 */
export function startPostgres(dir: string, port: number): TestPostgres {
  mkdirSync(dir)
  chownSync(dir, Number(run('id', ['-u', 'postgres']).trim()), Number(run('id', ['-g', 'postgres']).trim()))
  const data = path.join(dir, 'data')
  const stop = () => {
    try {
      run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', data, '-m', 'immediate', '-w', 'stop'])
    } catch {
      // not running, or not answering: the pid file says what to kill
    }
    const pidFile = path.join(data, 'postmaster.pid')
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  try {
    run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'dbroker'])
    run('runuser', [
      '-u',
      'postgres',
      '--',
      `${PG_BIN}/pg_ctl`,
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ])
  } catch (error) {
    stop()
    throw error
  }
  const sql = (statement: string, db = 'postgres') =>
    run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'dbroker', '-d', db, '-Atqc', statement])
  return {
    url: (db = 'dbroker') => `postgres://dbroker@127.0.0.1:${port}/${db}`,
    createDatabase: (name) => void sql(`create database ${name}`),
    sql,
    stop,
  }
}
