import {describe, expect, it} from 'vitest'

import {mergeDaemonJson, registryFlagsIn} from '../../src/agent/daemon-config.js'
import {hostRegistryView} from '../../src/broker/registries.js'
import {registryRequest} from '../../src/cli/services/registries.js'
import {describeHostRegistry, registryDifferences, registryKey, registryOfImage} from '../../src/core/registries.js'
import type {HostFacts} from '../../src/core/types.js'

const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  engineVersion: '20.10.24',
  cpus: 2,
  memoryBytes: 1,
  containersRunning: 0,
  registryMirrors: [],
  insecureRegistries: ['127.0.0.0/8'],
  loggingDriver: 'json-file',
  ...over,
})

describe('registry names', () => {
  it('the registry of an image is its first part when that names a host, else Docker Hub', () => {
    expect(registryOfImage('redis:7')).toBe('docker.io')
    expect(registryOfImage('dbroker/redis:7')).toBe('docker.io')
    expect(registryOfImage('127.0.0.1:5000/private/redis:7')).toBe('127.0.0.1:5000')
    expect(registryOfImage('Registry.Example/app')).toBe('registry.example')
    expect(registryOfImage('localhost/app:1')).toBe('localhost')
  })

  it('a registry given as a URL is stored as host[:port]; anything else is refused naming it', () => {
    expect(registryKey('https://Registry.example:5000/')).toBe('registry.example:5000')
    expect(registryKey('127.0.0.1:5000')).toBe('127.0.0.1:5000')
    expect(() => registryKey('http://a b')).toThrow('"http://a b" is not a registry')
    expect(() => registryKey('reg.example/path')).toThrow('is not a registry')
  })
})

describe('daemon.json', () => {
  it('sets registry-mirrors and insecure-registries and keeps every other key', () => {
    const text = JSON.stringify({'log-driver': 'local', 'registry-mirrors': ['http://old']})
    const merged = JSON.parse(mergeDaemonJson(text, {mirrors: ['http://m:5000'], insecure: ['r.lan:5000']}, 'f'))
    expect(merged).toEqual({
      'log-driver': 'local',
      'registry-mirrors': ['http://m:5000'],
      'insecure-registries': ['r.lan:5000'],
    })
  })

  it('empty settings take the keys away; an unchanged file is given back as it was, byte for byte', () => {
    const text = '{"debug": true, "registry-mirrors": ["http://m"]}'
    expect(JSON.parse(mergeDaemonJson(text, {mirrors: [], insecure: []}, 'f'))).toEqual({debug: true})
    const same = '{ "debug": true,\n "registry-mirrors": ["http://m"] }'
    expect(mergeDaemonJson(same, {mirrors: ['http://m'], insecure: []}, 'f')).toBe(same)
    expect(mergeDaemonJson('', {mirrors: [], insecure: []}, 'f')).toBe('')
  })

  it('a file that is not a JSON object is left alone with a message naming it', () => {
    expect(() => mergeDaemonJson('{"debug": tru', {mirrors: [], insecure: []}, '/etc/docker/daemon.json')).toThrow(
      '/etc/docker/daemon.json is not valid JSON',
    )
    expect(() => mergeDaemonJson('[1]', {mirrors: [], insecure: []}, 'f')).toThrow('does not hold a JSON object')
  })

  it('registry flags on the command line are found (dockerd refuses a setting both there and in the file)', () => {
    expect(registryFlagsIn(['dockerd', '--registry-mirror=http://m', '--ip', '127.0.0.1'])).toEqual([
      '--registry-mirror',
    ])
    expect(registryFlagsIn(['dockerd', '--insecure-registry', 'x'])).toEqual(['--insecure-registry'])
    expect(registryFlagsIn(['dockerd'])).toEqual([])
  })
})

describe('desired against in force', () => {
  it("in force when the engine has exactly them (dockerd's own 127.0.0.0/8 and a mirror's trailing slash aside)", () => {
    const desired = {mirrors: ['http://m:5000'], insecure: ['r.lan:5000']}
    expect(
      registryDifferences(desired, {
        registryMirrors: ['http://m:5000/'],
        insecureRegistries: ['r.lan:5000', '127.0.0.0/8'],
      }),
    ).toEqual([])
    expect(registryDifferences(desired, {registryMirrors: ['http://other/'], insecureRegistries: []})).toEqual([
      'mirror http://m:5000 missing',
      'mirror http://other not wanted',
      'insecure r.lan:5000 missing',
    ])
  })

  it('a host whose agent does not manage its engine shows the settings not applied, saying why', () => {
    const view = hostRegistryView(
      {mirrors: ['http://m:5000'], insecure: []},
      facts({engineControl: {managed: false, registryProblem: 'start it with --manage-engine'}}),
    )
    expect(view).toMatchObject({state: 'not applied', why: 'start it with --manage-engine'})
    expect(hostRegistryView(null, facts()).state).toBe('not set')
    expect(hostRegistryView({mirrors: [], insecure: []}, facts()).state).toBe('in force')
    expect(hostRegistryView({mirrors: [], insecure: []}, null).state).toBe('unknown')
  })

  it("top's host detail says the state, why, and what is wanted in one line", () => {
    expect(describeHostRegistry(undefined)).toBe('-')
    expect(
      describeHostRegistry({
        desired: {mirrors: ['http://m'], insecure: []},
        actual: null,
        state: 'not applied',
        why: 'x',
      }),
    ).toBe('not applied (x): mirrors http://m, insecure none')
  })

  it('the CLI names the flag of a bad value before anything is sent', () => {
    expect(() => registryRequest({mirror: ['http://m', 'ftp://m']})).toThrow(
      '--mirror "ftp://m": a mirror is an http(s) URL',
    )
    expect(() => registryRequest({insecure: ['a b']})).toThrow('--insecure "a b"')
    expect(() => registryRequest({mirror: ['http://m'], clear: true})).toThrow('--clear')
    expect(registryRequest({clear: true})).toEqual({mirrors: [], insecure: []})
  })
})
