import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {RUN} from '../helpers/cli.js'

describe('dbroker up --password', () => {
  it('a password shorter than broker start allows is a usage error, before anything starts or is written', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'dbroker-pw-'))
    try {
      const dataDir = path.join(home, 'data')
      for (const [flag, env] of [
        ['--password', 'DBROKER_PASSWORD'],
        ['--admin-password', 'DBROKER_ADMIN_PASSWORD'],
      ]) {
        const run = spawnSync(process.execPath, [RUN, 'up', '--port', '0', '--data-dir', dataDir], {
          encoding: 'utf8',
          timeout: 20_000,
          env: {...process.env, XDG_CONFIG_HOME: path.join(home, 'config'), [env]: 'short7!'},
        })
        expect(run.status, run.stderr).toBe(2)
        expect(run.stderr).toContain(`${flag} (or ${env}): use at least 8 characters`)
        expect(run.stderr).not.toContain('short7!')
      }
      expect(existsSync(dataDir)).toBe(false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })

  it('a secret given as an argument is refused, naming the variable to use: up, broker start, agent start', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'dbroker-argv-'))
    try {
      const dataDir = path.join(home, 'data')
      const cases: Array<[string[], string]> = [
        [['up', '--port', '0', '--data-dir', dataDir, '--password', 'argv-secret-1'], 'set DBROKER_PASSWORD'],
        [['up', '--port', '0', '--data-dir', dataDir, '--admin-password=argv-secret-1'], 'set DBROKER_ADMIN_PASSWORD'],
        [['broker', 'start', '--store', 'sqlite::memory:', '--password', 'argv-secret-1'], 'set DBROKER_PASSWORD'],
        [['broker', 'start', '--store', 'postgres://u:argv-secret-1@127.0.0.1/db'], 'set DBROKER_STORE'],
        [['agent', 'start', '--broker', 'http://127.0.0.1:1', '--token', 'argv-secret-1'], 'set DBROKER_AGENT_TOKEN'],
      ]
      for (const [args, hint] of cases) {
        const run = spawnSync(process.execPath, [RUN, ...args], {
          encoding: 'utf8',
          timeout: 20_000,
          env: {...process.env, XDG_CONFIG_HOME: path.join(home, 'config')},
        })
        expect(run.status, args.join(' ')).toBe(2)
        expect(run.stderr).toContain('process list')
        expect(run.stderr).toContain(hint)
        expect(run.stderr).not.toContain('argv-secret-1')
      }
      expect(existsSync(dataDir)).toBe(false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })

  it('--bind off loopback without --insecure is a usage error: up serves plain http', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'dbroker-bind-'))
    try {
      const dataDir = path.join(home, 'data')
      const run = spawnSync(process.execPath, [RUN, 'up', '--port', '0', '--bind', '0.0.0.0', '--data-dir', dataDir], {
        encoding: 'utf8',
        timeout: 20_000,
        env: {...process.env, XDG_CONFIG_HOME: path.join(home, 'config')},
      })
      expect(run.status, run.stderr).toBe(2)
      expect(run.stderr).toMatch(/--bind 0\.0\.0\.0 is off the loopback interface.*--insecure/s)
      expect(existsSync(dataDir)).toBe(false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })
})
