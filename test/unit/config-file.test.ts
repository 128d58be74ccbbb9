import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {UsageError} from '../../src/core/errors.js'
import {loadAgentConfig} from '../../src/system/agent.js'
import {loadBrokerConfig} from '../../src/system/broker.js'
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

const AGENT = `# agent of host a
id: host-a
service_address: 10.0.0.2
brokers:
  - https://broker.example:9998
token: agent-token-0123456789
`

const BROKER = `osb:
  username: broker
  password: osb-password
agent_token: agent-token-0123456789
store: sqlite:state/dbroker.db
`

describe('the agent configuration file', () => {
  it('loads with defaults, and its paths are relative to the file', () => {
    const file = write('agent.yml', `${AGENT}docker:\n  tls: {ca: tls/ca.pem, cert: tls/cert.pem, key: /etc/dbroker/key.pem}\nbroker_ca: ca.pem\n`)
    const config = loadAgentConfig(file, {})
    expect(config).toMatchObject({id: 'host-a', service_address: '10.0.0.2', port_range: [40000, 40999], keepalive: 5000, listen: {host: '0.0.0.0', port: 9997}})
    expect(config.docker.tls).toEqual({ca: path.join(dir, 'tls/ca.pem'), cert: path.join(dir, 'tls/cert.pem'), key: '/etc/dbroker/key.pem'})
    expect(config.broker_ca).toBe(path.join(dir, 'ca.pem'))
  })

  it('a flag wins over the file', () => {
    const config = loadAgentConfig(write('flags.yml', `${AGENT}keepalive: 10s\n`), {keepalive: '2s', port_range: '45000-45099', capacity: {max_containers: 3}})
    expect(config).toMatchObject({keepalive: 2000, port_range: [45000, 45099], capacity: {max_containers: 3}})
  })

  it('an unknown setting is named with its line', () => {
    const error = configError(() => loadAgentConfig(write('unknown.yml', `${AGENT}docker:\n  hots: unix:///run/docker.sock\n`), {}))
    expect(error.problems).toEqual([{path: 'docker.hots', line: 8, message: expect.stringMatching(/hots/)}])
    expect(error.message).toContain('line 8: docker.hots:')
    expect(error.message).toContain(path.join(dir, 'unknown.yml'))
  })

  it('bad values are named with their lines, every one of them at once', () => {
    const text = `${AGENT}port_range: 41000-40000\nkeepalive: soon\nlisten: nowhere\n`.replace('token: agent-token-0123456789', 'token: short')
    const error = configError(() => loadAgentConfig(write('bad.yml', text), {}))
    expect(error.problems).toEqual(
      expect.arrayContaining([
        {path: 'token', line: 6, message: 'use at least 16 characters'},
        {path: 'port_range', line: 7, message: '"41000-40000" is not MIN-MAX within 1-65535'},
        {path: 'keepalive', line: 8, message: expect.stringMatching(/"soon" is not a duration/)},
        {path: 'listen', line: 9, message: '"nowhere" is not HOST:PORT'},
      ]),
    )
    expect(error.problems).toHaveLength(4)
  })

  it('an item of a list is named by its index and line', () => {
    const error = configError(() => loadAgentConfig(write('list.yml', AGENT.replace('  - https://broker.example:9998', '  - https://broker.example:9998\n  - not a url')), {}))
    expect(error.problems).toEqual([{path: 'brokers[1]', line: 6, message: expect.stringMatching(/URL/i)}])
  })

  it('a missing setting is named without a line; one given by a bad flag too', () => {
    const missing = configError(() => loadAgentConfig(write('missing.yml', AGENT.replace('service_address: 10.0.0.2\n', '')), {}))
    expect(missing.problems).toEqual([{path: 'service_address', line: undefined, message: expect.any(String)}])
    expect(missing.message).toMatch(/^ {2}service_address: /m)
    const flag = configError(() => loadAgentConfig(undefined, {service_address: '10.0.0.2', brokers: ['http://b:1'], token: 'agent-token-0123456789', keepalive: '-1s'}))
    expect(flag.message).toMatch(/^invalid configuration from flags:/)
    expect(flag.problems).toEqual([{path: 'keepalive', line: undefined, message: expect.stringMatching(/not a duration/)}])
  })

  it('broken YAML is reported at its line; a file that is not a mapping, or not there, says so', () => {
    const broken = configError(() => loadAgentConfig(write('broken.yml', `${AGENT}labels: {rack: 1\n`), {}))
    expect(broken.problems[0].line).toBeGreaterThanOrEqual(7)
    const list = configError(() => loadAgentConfig(write('list-doc.yml', '- a\n- b\n'), {}))
    expect(list.problems).toEqual([{path: '', line: 1, message: 'must be a mapping of settings'}])
    expect(list.message).toContain('(document): must be a mapping of settings')
    expect(() => loadAgentConfig(path.join(dir, 'nope.yml'), {})).toThrow(UsageError)
    expect(() => loadAgentConfig(path.join(dir, 'nope.yml'), {})).toThrow(/cannot read the configuration .*nope\.yml: ENOENT/)
  })
})

describe('the broker configuration file', () => {
  it('loads with defaults; the SQLite path, catalog and TLS files are relative to the file, a PostgreSQL URL is left as it is', () => {
    const file = write('broker.yml', `${BROKER}catalog: catalog.yml\ntls: {cert: tls/cert.pem, key: tls/key.pem}\n`)
    const config = loadBrokerConfig(file, {})
    expect(config).toMatchObject({listen: {host: '127.0.0.1', port: 9998}, placement: 'spread', keepalive: 5000, osb: {username: 'broker'}})
    expect(config.store).toBe(`sqlite:${path.join(dir, 'state/dbroker.db')}`)
    expect(config.catalog).toBe(path.join(dir, 'catalog.yml'))
    expect(config.tls).toEqual({cert: path.join(dir, 'tls/cert.pem'), key: path.join(dir, 'tls/key.pem')})
    const pg = loadBrokerConfig(write('pg.yml', BROKER.replace('sqlite:state/dbroker.db', 'postgres://dbroker@db/dbroker')), {})
    expect(pg.store).toBe('postgres://dbroker@db/dbroker')
  })

  it('bad settings are named with their lines', () => {
    const text = BROKER.replace('password: osb-password', 'password: short').replace('sqlite:state/dbroker.db', 'mysql://db') + 'placement: tightest\nadmin: {username: ops}\n'
    const error = configError(() => loadBrokerConfig(write('bad-broker.yml', text), {}))
    expect(error.problems).toEqual(
      expect.arrayContaining([
        {path: 'osb.password', line: 3, message: 'use at least 8 characters'},
        {path: 'store', line: 5, message: 'use sqlite:PATH or postgres://USER@HOST/DB'},
        {path: 'placement', line: 6, message: expect.stringMatching(/spread/)},
        {path: 'admin.password', line: 7, message: expect.any(String)},
      ]),
    )
    expect(error.problems).toHaveLength(4)
  })
})
