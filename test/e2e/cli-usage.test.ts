import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {RUN} from '../helpers/cli.js'

const home = mkdtempSync(path.join(tmpdir(), 'dbroker-usage-'))
const env: NodeJS.ProcessEnv = {
  ...process.env,
  HOME: home,
  XDG_CONFIG_HOME: path.join(home, 'config'),
  XDG_DATA_HOME: path.join(home, 'data'),
  NO_COLOR: '1',
}
delete env.DBROKER_URL
delete env.DBROKER_CONTEXT
const cli = (...args: string[]) => cliWith(undefined, ...args)
const cliWith = (input: string | undefined, ...args: string[]) => {
  const r = spawnSync(process.execPath, [RUN, ...args], {env, input, encoding: 'utf8', timeout: 30_000})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

afterAll(() => rmSync(home, {recursive: true, force: true}))

describe('mistyped commands and flags, as an operator makes them', () => {
  it('an unknown command with --json prints one usage envelope, exit 2', () => {
    const r = cli('nosuchcommand', '--json')
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout)).toEqual({
      status: 2,
      error: {name: 'UsageError', message: 'there is no command nosuchcommand'},
    })
  })

  it('a typo gets "did you mean", without oclif\'s colon', () => {
    const r = cli('provison')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('there is no command provison')
    expect(r.stderr).toContain('did you mean `dbroker provision`?')
    const sub = cli('context', 'lst')
    expect(sub.code).toBe(2)
    expect(sub.stderr).toContain('did you mean `dbroker context list`?')
    expect(sub.stderr).not.toContain('context:lst')
  })

  it('a typo before arguments and flags still gets "did you mean", with what was typed after it', () => {
    const r = cli('provison', 'redis', '--plan', 'small')
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'Error: there is no command provison\n  Try: did you mean `dbroker provision redis --plan small`?\n',
    )
    const show = cli('shwo', 'cache')
    expect(show.code).toBe(2)
    expect(show.stderr).toContain('did you mean `dbroker show cache`?')
    const sub = cli('hosts', 'regstry', 'h1', '--mirror', 'https://mirror.example')
    expect(sub.stderr).toContain('did you mean `dbroker hosts registry h1 --mirror https://mirror.example`?')
    for (const args of [
      ['provison', 'redis', '--json'],
      ['provison', '--json', 'redis'],
    ]) {
      const json = cli(...args)
      expect(json.code).toBe(2)
      expect(json.stderr).toBe('')
      expect(JSON.parse(json.stdout)).toEqual({
        status: 2,
        error: {
          name: 'UsageError',
          message: expect.stringMatching(
            /^there is no command provison; did you mean `dbroker provision (redis --json|--json redis)`\?$/,
          ),
        },
      })
    }
  })

  it('an argument a command does not take is named as such', () => {
    const r = cli('catalog', 'extra-arg')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('catalog takes no argument extra-arg')
    expect(r.stderr).not.toContain('catalog:extra-arg')
  })

  it('a flag a subcommand lacks points at its help as typed, once', () => {
    const r = cli('services', 'remove', 'redis', '--nosuchflag')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Nonexistent flag: --nosuchflag')
    expect(r.stderr).toContain('See: dbroker services remove --help')
    expect(r.stderr).not.toContain('services:remove')
    expect(r.stderr).not.toContain('See more help with --help')
  })

  it('-h shows the help like --help', () => {
    const r = cli('bind', '-h')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('USAGE')
    expect(r.stdout).toContain('$ dbroker bind')
  })

  it('context add refuses a URL the broker cannot speak (ftp://x), and keeps nothing', () => {
    for (const url of ['ftp://x', 'file:///etc/passwd', 'http://']) {
      const r = cli('context', 'add', 'bad', '--url', url, '--json')
      expect(r.code, url).toBe(2)
      expect(JSON.parse(r.stdout).error.message).toContain('is not an http:// or https:// URL')
    }
    expect(JSON.parse(cli('context', 'list', '--json').stdout).result.contexts).toEqual([])
    expect(cli('context', 'add', 'ok', '--url', 'https://broker.example.com:9998').code).toBe(0)
  })

  it('context add takes passwords on stdin or from the environment, never as arguments', () => {
    const refused = cli('context', 'add', 'argv', '--url', 'http://127.0.0.1:1', '--username', 'u', '--password', 'pw1')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('would put a password in the process list')
    expect(refused.stderr).not.toContain('pw1')
    expect(cli('context', 'list', '--json').stdout).not.toContain('argv')

    const added = cliWith(
      'osb-secret\nadmin-secret\n',
      ...['context', 'add', 'piped', '--url', 'http://127.0.0.1:1', '--username', 'u', '--admin-username', 'a'],
      '--password-stdin',
    )
    expect(added.code, added.stderr).toBe(0)
    const stored = JSON.parse(readFileSync(path.join(home, 'config', 'dbroker', 'contexts.json'), 'utf8'))
    expect(stored.contexts.piped).toMatchObject({password: 'osb-secret', adminPassword: 'admin-secret'})
    const short = cliWith(
      'only-one\n',
      ...['context', 'add', 'short', '--url', 'http://127.0.0.1:1'],
      '--username',
      'u',
      '--admin-username',
      'a',
      '--password-stdin',
    )
    expect(short.code).toBe(2)
    expect(short.stderr).toContain('stdin needs password then admin password')
  })

  it('--context is not offered where it means nothing: context add, up, agent start', () => {
    expect(cli('context', 'add', 'x', '--url', 'http://127.0.0.1:1', '--context', 'other').stderr).toContain(
      'Nonexistent flag: --context',
    )
    expect(cli('agent', 'start', '--context', 'other').stderr).toContain('Nonexistent flag: --context')
    expect(cli('context', 'add', '--help').stdout).not.toContain('--context')
    expect(cli('agent', 'start', '--help').stdout).not.toContain('--context')
    const up = cli('up', '--help').stdout
    expect(up).toContain('name of the context it writes')
    expect(up).not.toContain('broker context to use')
    expect(cli('bind', '--help').stdout).toContain('broker context to use')
  })

  it('events --limit names the flag and what it takes; -n 0 without -f says why it would print nothing (exit 2)', () => {
    const word = cli('events', '-n', 'abc')
    expect(word.code).toBe(2)
    expect(word.stderr).toContain(
      '--limit (-n) abc is not a number of past changes: give a whole number from 0 to 1000',
    )
    expect(cli('events', '--limit', '5000').stderr).toContain('--limit (-n) 5000 is not a number')
    const zero = cli('events', '-n', '0')
    expect(zero.code).toBe(2)
    expect(zero.stderr).toContain('--limit (-n) 0 without --follow prints nothing')
    expect(zero.stderr).toContain('add -f to follow only new ones')
  })

  it('up --detach that fails shows the log tail on lines of their own, not as literal \\n', () => {
    const bad = path.join(home, 'bad-catalog.yml')
    writeFileSync(bad, 'services: [oops\n')
    const dataDir = path.join(home, 'failing-up')
    const up = cli('up', '--detach', '--data-dir', dataDir, '--port', '43441', '--catalog', bad)
    expect(up.code).toBe(1)
    expect(up.stderr).not.toContain('\\n')
    expect(up.stderr).toMatch(/before it was healthy:\n.*invalid catalog/)
  })
})
