import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {UsageError} from '../../src/core/errors.js'
import {newHostToken} from '../../src/core/host-identity.js'
import {createLogger} from '../../src/core/log.js'
import {loadAgentConfig, startAgentProcess} from '../../src/system/agent.js'
import {loadBrokerConfig, startBrokerProcess} from '../../src/system/broker.js'
import {ConfigError} from '../../src/system/config-file.js'

const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-config-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const write = (name: string, text: string) => {
  const file = path.join(dir, name)
  writeFileSync(file, text)
  return file
}

/** The error loading the file raises; it must be a ConfigError. */
function configError(load: () => unknown): ConfigError {
  try {
    load()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('the configuration loaded without an error')
}

const TOKEN = newHostToken()
const AGENT = `# agent of host a
id: host-a
service_address: 10.0.0.2
brokers:
  - https://broker.example:9998
token: ${TOKEN}
`

const BROKER = `osb:
  username: broker
  password: osb-password
store: sqlite:state/dbroker.db
admin: {username: ops, password: admin-password}
`

describe('the agent configuration file', () => {
  it('loads with defaults, and its paths are relative to the file', () => {
    const file = write(
      'agent.yml',
      `${AGENT}docker:\n  tls: {ca: tls/ca.pem, cert: tls/cert.pem, key: /etc/dbroker/key.pem}\nbroker_ca: ca.pem\n`,
    )
    const config = loadAgentConfig(file, {})
    expect(config).toMatchObject({
      id: 'host-a',
      service_address: '10.0.0.2',
      port_range: [40000, 40999],
      keepalive: 5000,
      listen: {host: '127.0.0.1', port: 9997},
      token: TOKEN,
      insecure: false,
    })
    expect(config.docker.tls).toEqual({
      ca: path.join(dir, 'tls/ca.pem'),
      cert: path.join(dir, 'tls/cert.pem'),
      key: '/etc/dbroker/key.pem',
    })
    expect(config.broker_ca).toBe(path.join(dir, 'ca.pem'))
  })

  it('a flag wins over the file', () => {
    const config = loadAgentConfig(write('flags.yml', `${AGENT}keepalive: 10s\n`), {
      keepalive: '2s',
      port_range: '45000-45099',
      capacity: {max_containers: 3},
    })
    expect(config).toMatchObject({keepalive: 2000, port_range: [45000, 45099], capacity: {max_containers: 3}})
  })

  it('an unknown setting is named with its line', () => {
    const error = configError(() =>
      loadAgentConfig(write('unknown.yml', `${AGENT}docker:\n  hots: unix:///run/docker.sock\n`), {}),
    )
    expect(error.problems).toEqual([{path: 'docker.hots', line: 8, message: expect.stringMatching(/hots/)}])
    expect(error.message).toContain('line 8: docker.hots:')
    expect(error.message).toContain(path.join(dir, 'unknown.yml'))
  })

  it('bad values are named with their lines, every one of them at once', () => {
    const text = `${AGENT}port_range: 41000-40000\nkeepalive: soon\nlisten: nowhere\n`.replace(
      `token: ${TOKEN}`,
      'token: agent-token-0123456789',
    )
    const error = configError(() => loadAgentConfig(write('bad.yml', text), {}))
    expect(error.problems).toEqual(
      expect.arrayContaining([
        {path: 'token', line: 6, message: expect.stringMatching(/not a host token .*dbroker hosts add HOST/)},
        {path: 'port_range', line: 7, message: '"41000-40000" is not MIN-MAX within 1-65535'},
        {path: 'keepalive', line: 8, message: expect.stringMatching(/"soon" is not a duration/)},
        {path: 'listen', line: 9, message: '"nowhere" is not HOST:PORT'},
      ]),
    )
    expect(error.problems).toHaveLength(4)
  })

  it('an item of a list is named by its index and line', () => {
    const error = configError(() =>
      loadAgentConfig(
        write(
          'list.yml',
          AGENT.replace('  - https://broker.example:9998', '  - https://broker.example:9998\n  - not a url'),
        ),
        {},
      ),
    )
    expect(error.problems).toEqual([{path: 'brokers[1]', line: 6, message: expect.stringMatching(/URL/i)}])
  })

  it('a missing setting is named without a line; one given by a bad flag too', () => {
    const missing = configError(() =>
      loadAgentConfig(write('missing.yml', AGENT.replace('service_address: 10.0.0.2\n', '')), {}),
    )
    expect(missing.problems).toEqual([{path: 'service_address', line: undefined, message: expect.any(String)}])
    expect(missing.message).toMatch(/^ {2}service_address: /m)
    const flag = configError(() =>
      loadAgentConfig(undefined, {
        service_address: '10.0.0.2',
        brokers: ['http://b:1'],
        token: TOKEN,
        keepalive: '-1s',
      }),
    )
    expect(flag.message).toMatch(/^invalid configuration from flags:/)
    expect(flag.problems).toEqual([
      {path: 'keepalive', line: undefined, message: expect.stringMatching(/not a duration/)},
    ])
  })

  it('broken YAML is reported at its line; a file that is not a mapping, or not there, says so', () => {
    const broken = configError(() => loadAgentConfig(write('broken.yml', `${AGENT}labels: {rack: 1\n`), {}))
    expect(broken.problems[0].line).toBeGreaterThanOrEqual(7)
    const list = configError(() => loadAgentConfig(write('list-doc.yml', '- a\n- b\n'), {}))
    expect(list.problems).toEqual([{path: '', line: 1, message: 'must be a mapping of settings'}])
    expect(list.message).toContain('(document): must be a mapping of settings')
    expect(() => loadAgentConfig(path.join(dir, 'nope.yml'), {})).toThrow(UsageError)
    expect(() => loadAgentConfig(path.join(dir, 'nope.yml'), {})).toThrow(
      /cannot read the configuration .*nope\.yml: ENOENT/,
    )
  })
})

describe('the broker configuration file', () => {
  it('loads with defaults; the SQLite path, catalog and TLS files are relative to the file, a PostgreSQL URL is left as it is', () => {
    const file = write('broker.yml', `${BROKER}catalog: catalog.yml\ntls: {cert: tls/cert.pem, key: tls/key.pem}\n`)
    const config = loadBrokerConfig(file, {})
    expect(config).toMatchObject({
      listen: {host: '127.0.0.1', port: 9998},
      placement: 'spread',
      keepalive: 5000,
      osb: {username: 'broker'},
    })
    expect(config.store).toBe(`sqlite:${path.join(dir, 'state/dbroker.db')}`)
    expect(config.catalog).toBe(path.join(dir, 'catalog.yml'))
    expect(config.tls).toEqual({cert: path.join(dir, 'tls/cert.pem'), key: path.join(dir, 'tls/key.pem')})
    const pg = loadBrokerConfig(
      write('pg.yml', BROKER.replace('sqlite:state/dbroker.db', 'postgres://dbroker@db/dbroker')),
      {},
    )
    expect(pg.store).toBe('postgres://dbroker@db/dbroker')
  })

  it('bad settings are named with their lines', () => {
    const text = BROKER.replace('password: osb-password', 'password: short')
      .replace('sqlite:state/dbroker.db', 'mysql://db')
      .replace('admin: {username: ops, password: admin-password}', 'placement: tightest\nadmin: {username: ops}')
    const error = configError(() => loadBrokerConfig(write('bad-broker.yml', text), {}))
    expect(error.problems).toEqual(
      expect.arrayContaining([
        {path: 'osb.password', line: 3, message: 'use at least 8 characters'},
        {path: 'store', line: 4, message: 'use sqlite:PATH or postgres://USER@HOST/DB'},
        {path: 'placement', line: 5, message: expect.stringMatching(/spread/)},
        {path: 'admin.password', line: 6, message: expect.any(String)},
      ]),
    )
    expect(error.problems).toHaveLength(4)
  })

  it('without admin credentials it does not start: the OSB ones must not open the admin API', () => {
    const error = configError(() =>
      loadBrokerConfig(
        write('no-admin.yml', BROKER.replace('admin: {username: ops, password: admin-password}\n', '')),
        {},
      ),
    )
    expect(error.problems).toEqual([
      {
        path: 'admin',
        line: undefined,
        message: expect.stringMatching(/the admin API needs its own credentials.*distinct from the OSB ones/),
      },
    ])
  })

  it('admin credentials with the OSB password are refused', () => {
    const error = configError(() =>
      loadBrokerConfig(
        write('same-admin.yml', BROKER.replace('password: admin-password', 'password: osb-password')),
        {},
      ),
    )
    expect(error.problems).toEqual([
      {path: 'admin.password', line: 5, message: expect.stringMatching(/must differ from osb.password/)},
    ])
    expect(error.message).not.toContain('osb-password')
  })

  it('plain http off loopback is refused unless --insecure, which says so on stderr; 127.0.0.1 is fine', async () => {
    const lines: string[] = []
    const log = createLogger('warn', (line) => lines.push(line))
    const open = loadBrokerConfig(write('open.yml', `${BROKER}listen: 0.0.0.0:0\n`), {})
    await expect(startBrokerProcess(open, log)).rejects.toThrow(/plain http on 0\.0\.0\.0:0: refused/)
    const insecure = loadBrokerConfig(
      write(
        'insecure.yml',
        `${BROKER}listen: 127.0.0.1:0\nurl: http://10.0.0.9:9998\ninsecure: true\nstore: 'sqlite::memory:'\n`.replace(
          'store: sqlite:state/dbroker.db\n',
          '',
        ),
      ),
      {},
    )
    const broker = await startBrokerProcess(insecure, log)
    await broker.close()
    expect(lines.join('')).toMatch(/warn .*INSECURE: http:\/\/10\.0\.0\.9:9998 is plain http/)
    const local = await startBrokerProcess(
      loadBrokerConfig(
        write(
          'local.yml',
          `${BROKER.replace('store: sqlite:state/dbroker.db\n', '')}listen: 127.0.0.1:0\nstore: 'sqlite::memory:'\n`,
        ),
        {},
      ),
      log,
    )
    await local.close()
  })
})

describe("the agent's token and transport", () => {
  const agentConfig = (extra: string, overrides: Record<string, unknown> = {}) =>
    loadAgentConfig(write(`agent-${Math.random().toString(36).slice(2)}.yml`, AGENT + extra), overrides)

  it('reads its token from a file, relative to the config; refuses both, neither, or a file without a host token', () => {
    write('host-a.token', `${TOKEN}\n`)
    const fromFile = loadAgentConfig(
      write('with-file.yml', AGENT.replace(`token: ${TOKEN}`, 'token_file: host-a.token')),
      {},
    )
    expect(fromFile.token).toBe(TOKEN)
    expect(fromFile.token_file).toBe(path.join(dir, 'host-a.token'))
    expect(configError(() => agentConfig('token_file: host-a.token\n')).problems).toEqual([
      {path: 'token_file', message: expect.stringMatching(/not both/)},
    ])
    expect(
      configError(() => loadAgentConfig(write('no-token.yml', AGENT.replace(`token: ${TOKEN}\n`, '')), {})).problems,
    ).toEqual([{path: 'token', message: expect.stringMatching(/--token-file/)}])
    write('garbage.token', 'shared-agent-token-0123456789\n')
    const garbage = configError(() =>
      loadAgentConfig(write('garbage.yml', AGENT.replace(`token: ${TOKEN}`, 'token_file: garbage.token')), {}),
    )
    expect(garbage.problems).toEqual([{path: 'token_file', message: expect.stringMatching(/not a host token/)}])
    expect(garbage.message).not.toContain('shared-agent-token')
    expect(() =>
      loadAgentConfig(write('missing-file.yml', AGENT.replace(`token: ${TOKEN}`, 'token_file: nope.token')), {}),
    ).toThrow(/cannot read the token file .*nope\.token: ENOENT/)
  })

  // Each refusal comes before the engine is touched: the engine here does not exist.
  const nowhere = 'docker:\n  host: unix:///nonexistent/docker.sock\n'

  it('an http:// broker off loopback is refused without --insecure', async () => {
    const config = agentConfig(nowhere, {brokers: ['http://broker.example:9998']})
    await expect(startAgentProcess(config, createLogger('silent'))).rejects.toThrow(
      /http:\/\/broker\.example:9998 is plain http.*refused/,
    )
  })

  it('its API in plain http off loopback, and a tcp:// engine without TLS, are refused without --insecure', async () => {
    await expect(
      startAgentProcess(agentConfig(nowhere, {listen: '10.0.0.2:9997'}), createLogger('silent')),
    ).rejects.toThrow(/the agent API serves plain http on 10\.0\.0\.2:9997: refused/)
    await expect(
      startAgentProcess(agentConfig('docker:\n  host: tcp://127.0.0.1:2375\n'), createLogger('silent')),
    ).rejects.toThrow(/tcp:\/\/127\.0\.0\.1:2375 is tcp without TLS.*refused/)
  })

  it('with --insecure it goes on, warning on stderr; loopback http needs no --insecure', async () => {
    const lines: string[] = []
    const log = createLogger('warn', (line) => lines.push(line))
    const insecure = agentConfig(nowhere, {brokers: ['http://broker.example:9998'], insecure: true})
    await expect(startAgentProcess(insecure, log)).rejects.toThrow(/Docker engine .* is not reachable/)
    expect(lines.join('')).toMatch(/warn .*INSECURE: http:\/\/broker\.example:9998 is plain http/)
    await expect(startAgentProcess(agentConfig(nowhere, {brokers: ['http://127.0.0.1:9998']}), log)).rejects.toThrow(
      /Docker engine .* is not reachable/,
    )
  })

  it('a token file others can read is named in a warning', async () => {
    const lines: string[] = []
    const file = write('shared.token', `${TOKEN}\n`)
    chmodSync(file, 0o644)
    const config = loadAgentConfig(
      write('shared.yml', AGENT.replace(`token: ${TOKEN}`, `token_file: shared.token\n${nowhere}`)),
      {},
    )
    await expect(
      startAgentProcess(
        config,
        createLogger('warn', (line) => lines.push(line)),
      ),
    ).rejects.toThrow(/not reachable/)
    expect(lines.join('')).toMatch(/the token file .*shared\.token is readable by others \(mode 644\): chmod 600 it/)
    expect(lines.join('')).not.toContain(TOKEN)
  })
})
