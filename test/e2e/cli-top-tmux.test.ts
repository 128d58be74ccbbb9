import {execFileSync, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RUN} from '../helpers/cli.js'
import {type OperatorSandbox, startSandbox} from '../helpers/operator.js'
import {until} from '../helpers/until.js'

const port = 42100 + Math.floor(Math.random() * 100)
const session = `dbroker-top-${randomBytes(4).toString('hex')}`

const small = `${session}-80x24`

const tmux = (...args: string[]) => execFileSync('tmux', args, {encoding: 'utf8'})
const screen = (target = session) => tmux('capture-pane', '-p', '-t', target)
const paneState = () =>
  tmux('display-message', '-p', '-t', session, '#{alternate_on} #{cursor_flag} #{pane_dead}').trim()

async function waitForScreen(check: (text: string) => boolean, timeoutMs = 30_000, target = session): Promise<string> {
  let text = ''
  const shown = () => {
    text = screen(target)
    return check(text) && text
  }
  return until('the screen', shown, {timeoutMs, everyMs: 250}).catch(() => {
    throw new Error(`the screen never showed what was expected; it shows:\n${text}`)
  })
}

describe('dbroker top in a real terminal (tmux)', () => {
  let box: OperatorSandbox
  beforeAll(async () => {
    if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is missing: apt-get install -y tmux')
    box = await startSandbox({port, portRange: [42350, 42399]})
    const env = Object.entries({
      HOME: box.env.HOME,
      XDG_CONFIG_HOME: box.env.XDG_CONFIG_HOME,
      XDG_DATA_HOME: box.env.XDG_DATA_HOME,
      TERM: 'xterm-256color',
    })
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    // A person at a terminal has no CI variable; with it top would print one snapshot and exit, as it should in CI.
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '150',
      '-y',
      '40',
      `env -u CI ${env} ${process.execPath} ${RUN} top --interval 2; echo "top exited with $?"; sleep 600`,
    )
    topCommand = `env -u CI ${env} ${process.execPath} ${RUN} top --interval 2; echo "top exited with $?"; sleep 600`
  })
  let topCommand = ''
  afterAll(async () => {
    spawnSync('tmux', ['kill-session', '-t', session])
    spawnSync('tmux', ['kill-session', '-t', small])
    await box?.stop()
  })

  it('shows an instance provisioned from another process, and q restores the terminal', async () => {
    await waitForScreen((t) => t.includes('dbroker top') && t.includes('Instances (0)') && t.includes('live'))
    expect(paneState().split(' ')[0]).toBe('1')

    const made = await box.cli(['provision', 'redis', '--name', 'from-elsewhere'])
    expect(made.code).toBe(0)
    const shown = await waitForScreen((t) => /from-elsewhere\s+redis\/small\s+(healthy|starting|running)/.test(t))
    expect(shown).toMatch(/local\s+alive/)

    tmux('send-keys', '-t', session, 'Enter')
    await waitForScreen((t) => t.includes('Bindings (0)'))
    tmux('send-keys', '-t', session, 'Escape')
    await waitForScreen((t) => t.includes('Instances (1)'))

    tmux('send-keys', '-t', session, 'q')
    const after = await waitForScreen((t) => t.includes('top exited with 0'))
    expect(after).not.toContain('Instances (1)')
    const [alternate, cursor] = paneState().split(' ')
    expect(alternate).toBe('0')
    expect(cursor).toBe('1')
  })

  it('x opens redis-cli on a temporary binding, every key reaches it, and its exit brings top back with keys working', async () => {
    const connect = `${session}-x`
    tmux('new-session', '-d', '-s', connect, '-x', '80', '-y', '24', topCommand)
    try {
      await waitForScreen((t) => t.includes('from-elsewhere') && t.includes('live'), 30_000, connect)
      tmux('send-keys', '-t', connect, '/', ...'from-elsewhere', 'Enter')
      await waitForScreen((t) => t.includes('filter: from-elsewhere'), 10_000, connect)
      tmux('send-keys', '-t', connect, 'x')
      await waitForScreen((t) => /127\.0\.0\.1:\d+>\s*$/m.test(t), 30_000, connect)
      // The screen read the terminal before: typed now, every key must go to the client, none to top.
      tmux('send-keys', '-t', connect, 'ECHO keys-all-here', 'Enter')
      await waitForScreen((t) => t.includes('"keys-all-here"'), 10_000, connect)
      tmux('send-keys', '-t', connect, 'quit', 'Enter')
      await waitForScreen((t) => t.includes('back from the client: its temporary binding is gone'), 30_000, connect)
      const bindings = JSON.parse((await box.cli(['bindings', 'from-elsewhere', '--json'])).stdout).result
      expect(bindings).toEqual([])
      tmux('send-keys', '-t', connect, 'j')
      await waitForScreen((t) => !t.includes('back from the client'), 10_000, connect)
      tmux('send-keys', '-t', connect, 'q')
      await waitForScreen((t) => t.includes('top exited with 0'), 10_000, connect)
    } finally {
      spawnSync('tmux', ['kill-session', '-t', connect])
    }
  })

  it('at 80x24, PostgreSQL failed-login lines (tabs) keep the log view in its frame, wrapped lines whole', async () => {
    const made = await box.cli(['provision', 'postgresql', '--name', 'pg-tabs'])
    expect(made.code, made.stderr).toBe(0)
    const detail = JSON.parse((await box.cli(['instances', '--json', '--no-stats'])).stdout).result.find(
      (i: {name: string}) => i.name === 'pg-tabs',
    )
    const hostPort = detail.ports[0].host
    for (let n = 0; n < 3; n++)
      box.sh(
        `PGPASSWORD=wrong psql -h 127.0.0.1 -p ${hostPort} -U nosuch -d postgres -c 'select 1' 2>/dev/null || true`,
      )
    tmux('new-session', '-d', '-s', small, '-x', '80', '-y', '24', topCommand)
    await waitForScreen((t) => t.includes('pg-tabs'), 30_000, small)
    tmux('send-keys', '-t', small, '/', 'p', 'g', '-', 't', 'Enter')
    await waitForScreen((t) => /Instances \(1\/\d\)/.test(t), 10_000, small)
    tmux('send-keys', '-t', small, 'l')
    const logs = await waitForScreen((t) => t.includes('password authentication failed'), 30_000, small)
    tmux('send-keys', '-t', small, 'w')
    const wrapped = await waitForScreen((t) => t.includes('wrap on'), 10_000, small)
    for (const shown of [logs, wrapped]) {
      const rows = shown.split('\n').slice(0, 24)
      expect(rows[0]).toContain('dbroker top')
      expect(rows[1]).toMatch(/^╭─+╮$/)
      expect(rows[2]).toMatch(/^│ Logs: pg-tabs/)
      for (const row of rows.slice(1, 22)) if (row.trim()) expect(row, shown).toMatch(/^[│╭╰].{78}[│╮╯]$/u)
      expect(shown).not.toContain('\t')
    }
    tmux('send-keys', '-t', small, 'q')
    await waitForScreen((t) => t.includes('top exited with 0'), 10_000, small)
  })

  it("with a wrong admin password it fails at once with the broker's refusal, exit 1, no screen", async () => {
    const wrong = `${session}-401`
    tmux(
      'new-session',
      '-d',
      '-s',
      wrong,
      '-x',
      '80',
      '-y',
      '24',
      topCommand.replace('env -u CI', 'env -u CI DBROKER_ADMIN_PASSWORD=not-the-password'),
    )
    try {
      const shown = await waitForScreen((t) => t.includes('top exited with'), 15_000, wrong)
      expect(shown).toContain('refused the admin credentials')
      expect(shown).toContain('top exited with 1')
      expect(shown).not.toContain('reconnecting')
    } finally {
      spawnSync('tmux', ['kill-session', '-t', wrong])
    }
  })
})
