import {describe, expect, it} from 'vitest'

import {buildSpec, planLogging} from '../../src/broker/spec.js'
import {CatalogError, parseCatalog} from '../../src/catalog/index.js'
import {DEFAULT_LOGGING, describeLogging} from '../../src/core/logging.js'
import {confinement, type SecurityView, securityView} from '../../src/core/security.js'
import type {ContainerSpec, Host} from '../../src/core/types.js'
import {createOptions, specHash} from '../../src/docker/engine.js'
import {ManifestError, parseManifest} from '../../src/manifest/index.js'
import {toSpecs} from '../../src/manifest/specs.js'

const catalog = (lines = '') =>
  `services:
  - id: 11111111-1111-4111-8111-111111111111
    name: kv
    description: a key-value store
    bindable: true
    plans:
      - id: 22222222-2222-4222-8222-222222222222
        name: small
        description: small
        container:
          image: example/kv:1
          ports: [6379]
          credentials: {env: {password: KV_PASSWORD}}
          uri: kv://{host}:{port}
${lines}`

const host = {id: 'local', bindAddress: '127.0.0.1'} as Host

function specFor(lines = ''): ContainerSpec {
  const {service, plan} = parseCatalog(catalog(lines), 'catalog.yml').plan('22222222-2222-4222-8222-222222222222')!
  return buildSpec({
    instanceId: 'i1',
    installationId: 'a1b2c3d4e5f6',
    service,
    plan,
    host,
    ports: [{container: 6379, host: 40000, protocol: 'tcp'}],
    credentials: {username: 'kv', password: 'not-random'},
    parameters: {},
  })
}

const logConfig = (spec: ContainerSpec) => createOptions(spec, 'a1b2c3d4e5f6').HostConfig!.LogConfig

/** The one problem the catalog has, as "line N: path: message". */
function catalogProblem(lines: string): string {
  try {
    parseCatalog(catalog(lines), 'catalog.yml')
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError)
    const [p] = (error as CatalogError).problems
    return `line ${p.line}: ${p.path}: ${p.message}`
  }
  throw new Error('the catalog loaded without an error')
}

describe('a plan says where its containers log', () => {
  it('without logging: the local driver, capped at 3 × 10 MiB', () => {
    const spec = specFor()
    expect(spec.logging).toEqual({driver: 'local', options: {'max-file': '3', 'max-size': String(10 * 1024 ** 2)}})
    expect(logConfig(spec)).toEqual({Type: 'local', Config: {'max-file': '3', 'max-size': '10485760'}})
  })

  it('json-file and local keep their cap unless they name their own, in bytes', () => {
    expect(
      logConfig(specFor('          logging: {driver: json-file, options: {max-size: 1m, compress: true}}')),
    ).toEqual({
      Type: 'json-file',
      Config: {compress: 'true', 'max-file': '3', 'max-size': String(1024 ** 2)},
    })
    expect(logConfig(specFor('          logging: {driver: local, options: {max-file: 5}}'))).toEqual({
      Type: 'local',
      Config: {'max-file': '5', 'max-size': '10485760'},
    })
  })

  it('syslog, journald, gelf and fluentd go to the engine with their options as Docker names them', () => {
    expect(
      logConfig(
        specFor(
          '          logging: {driver: syslog, options: {syslog-address: "tcp://127.0.0.1:5514", syslog-format: rfc5424, tag: "{{.Name}}", mode: non-blocking}}',
        ),
      ),
    ).toEqual({
      Type: 'syslog',
      Config: {
        mode: 'non-blocking',
        'syslog-address': 'tcp://127.0.0.1:5514',
        'syslog-format': 'rfc5424',
        tag: '{{.Name}}',
      },
    })
    expect(logConfig(specFor('          logging: {driver: journald}'))).toEqual({Type: 'journald', Config: {}})
    expect(
      logConfig(
        specFor(
          '          logging: {driver: gelf, options: {gelf-address: "udp://10.0.0.5:12201", gelf-compression-level: 1}}',
        ),
      ),
    ).toEqual({Type: 'gelf', Config: {'gelf-address': 'udp://10.0.0.5:12201', 'gelf-compression-level': '1'}})
    expect(
      logConfig(
        specFor(
          '          logging: {driver: fluentd, options: {fluentd-address: "10.0.0.5:24224", fluentd-async: true}}',
        ),
      ),
    ).toEqual({Type: 'fluentd', Config: {'fluentd-address': '10.0.0.5:24224', 'fluentd-async': 'true'}})
  })

  it('the old spelling, security.log, still says the same', () => {
    const spec = specFor('          security: {log: {driver: json-file, max_size: 20m, max_files: 5}}')
    expect(spec.logging).toEqual({driver: 'json-file', options: {'max-file': '5', 'max-size': String(20 * 1024 ** 2)}})
    expect(spec.security?.log).toBeUndefined()
    expect(planLogging({})).toBe(DEFAULT_LOGGING)
  })

  it('a change of logging is a change of the container (another spec hash), the same logging is not', () => {
    const plain = specFor()
    expect(specHash(specFor())).toBe(specHash(plain))
    expect(specHash(specFor('          logging: {driver: local}'))).toBe(specHash(plain))
    expect(specHash(specFor('          logging: {driver: json-file}'))).not.toBe(specHash(plain))
    expect(specHash(specFor('          logging: {driver: local, options: {max-file: 4}}'))).not.toBe(specHash(plain))
  })

  it('a spec stored before logging keeps its hash and its container logs as it did', () => {
    const {logging: _logging, ...stored} = specFor()
    const legacy = {
      ...stored,
      security: {...stored.security!, log: {driver: 'json-file' as const, maxSizeBytes: 10 * 1024 ** 2, maxFiles: 3}},
    }
    const hash = specHash(legacy)
    expect(specHash(JSON.parse(JSON.stringify(legacy)) as ContainerSpec)).toBe(hash)
    expect(logConfig(legacy)).toEqual({Type: 'json-file', Config: {'max-file': '3', 'max-size': '10485760'}})
    const {security: _security, ...beforeHardening} = stored
    expect(logConfig(beforeHardening)).toEqual({Type: 'local', Config: DEFAULT_LOGGING.options})
  })

  it('reads in one phrase', () => {
    expect(describeLogging(DEFAULT_LOGGING)).toBe('local 10M×3')
    expect(describeLogging({driver: 'syslog', options: {'syslog-address': 'udp://10.0.0.5:514'}})).toBe(
      'syslog to udp://10.0.0.5:514',
    )
    expect(describeLogging({driver: 'journald', options: {}})).toBe('journald')
  })

  it("the detail's security line says how the container logs, also from a broker that sent the old `log`", () => {
    const view = securityView(
      specFor('          logging: {driver: syslog, options: {syslog-address: "udp://10.0.0.5:514"}}'),
      'i',
    )
    expect(view.logging).toEqual({driver: 'syslog', options: {'syslog-address': 'udp://10.0.0.5:514'}})
    expect(confinement(view)).toContain('logs syslog to udp://10.0.0.5:514')
    const {logging: _logging, ...older} = view
    const fromOlderBroker = {...older, log: {driver: 'json-file', maxSizeBytes: 10 * 1024 ** 2, maxFiles: 3}}
    expect(confinement(fromOlderBroker as unknown as SecurityView)).toContain('logs json-file 10M×3')
  })
})

describe('the store keeps the parsed catalog and reads it again', () => {
  it.each([
    'json-file, options: {max-size: 1m, max-file: 2, compress: true, tag: "{{.Name}}"}',
    'local',
    'syslog, options: {syslog-address: "udp://10.0.0.5:514", syslog-facility: local3, cache-max-file: 2, cache-max-size: 1m}',
    'journald, options: {labels: a, mode: non-blocking, max-buffer-size: 4m}',
    'gelf, options: {gelf-address: "tcp://10.0.0.5:12201", gelf-compression-level: -1, gelf-tcp-max-reconnect: 3}',
    'fluentd, options: {fluentd-address: "10.0.0.5:24224", fluentd-buffer-limit: 1000, fluentd-max-retries: 0}',
  ])('logging: {driver: %s} reads the same', (logging) => {
    const first = parseCatalog(catalog(`          logging: {driver: ${logging}}`), 'catalog.yml').definition
    const again = parseCatalog(JSON.stringify(first), 'the stored catalog').definition
    expect(again).toEqual(first)
  })
})

describe('a bad logging block is a catalog error naming the field and its line', () => {
  const at = 'services[0].plans[0].container.logging'
  it.each([
    ['          logging: {driver: awslogs}', `line 15: ${at}.driver`, 'json-file'],
    [
      '          logging: {driver: syslog, options: {syslog-address: "http://x:1"}}',
      `line 15: ${at}.options.syslog-address`,
      'is not an address like udp://',
    ],
    [
      '          logging: {driver: syslog, options: {max-size: 10m}}',
      `line 15: ${at}.options.max-size`,
      'Unrecognized key',
    ],
    [
      '          logging: {driver: local, options: {max-size: 10 parsecs}}',
      `line 15: ${at}.options.max-size`,
      'is not a size',
    ],
    ['          logging: {driver: local, options: {max-file: 0}}', `line 15: ${at}.options.max-file`, ''],
    ['          logging: {driver: gelf}', `line 15: ${at}.options`, ''],
    ['          logging: {driver: gelf, options: {}}', `line 15: ${at}.options.gelf-address`, ''],
    [
      '          logging: {driver: journald, options: {env-regex: "("}}',
      `line 15: ${at}.options.env-regex`,
      'regular expression',
    ],
    [
      '          logging: {driver: fluentd, options: {fluentd-async: maybe}}',
      `line 15: ${at}.options.fluentd-async`,
      '',
    ],
  ])('%s', (lines, where, message) => {
    const problem = catalogProblem(lines)
    expect(problem.startsWith(`${where}: `), problem).toBe(true)
    expect(problem).toContain(message)
  })

  it('an option that would copy the password into every log entry is refused', () => {
    for (const options of ['{env: "KV_PASSWORD"}', '{env: "HOME, KV_PASSWORD"}', '{env-regex: "^KV_"}'])
      expect(catalogProblem(`          logging: {driver: syslog, options: ${options}}`)).toMatch(
        /^line \d+: services\[0\]\.plans\[0\]\.container\.logging\.options: would copy KV_PASSWORD \(a credential\)/,
      )
    expect(specFor('          logging: {driver: syslog, options: {env: HOME}}').logging?.options.env).toBe('HOME')
  })

  it('the old and the new spelling together are one too many', () => {
    expect(
      catalogProblem('          logging: {driver: local}\n          security: {log: {driver: json-file}}'),
    ).toMatch(/^line 16: services\[0\]\.plans\[0\]\.container\.security\.log: is the old spelling of logging/)
  })
})

describe('a manifest container logs the same way', () => {
  const manifest = (logging: string) =>
    `name: d\nhosts:\n  - name: h1\n    containers:\n      - name: web\n        image: example/web:1\n${logging}`

  it('takes the same drivers and options, with the cap for local ones', () => {
    const d = parseManifest(manifest('        logging: {driver: json-file, options: {max-size: 5m}}'), 'm.yml')
    expect(d.hosts[0].containers[0].logging).toEqual({
      driver: 'json-file',
      options: {'max-file': '3', 'max-size': String(5 * 1024 ** 2)},
    })
  })

  it('reaches the container: the spec carries it into LogConfig, and a container without one logs to local, capped', async () => {
    const text = `${manifest('        logging: {driver: syslog, options: {syslog-address: "udp://10.0.0.5:514"}}')}\n      - name: quiet\n        image: example/quiet:1\n`
    const specs = await toSpecs(parseManifest(text, 'm.yml'), {
      hosts: new Map([['h1', {...host, id: 'h1', portMin: 41000, portMax: 41099} as Host]]),
      allocate: async () => [],
    })
    const [web, quiet] = specs.hosts.h1
    expect(logConfig(web)).toEqual({Type: 'syslog', Config: {'syslog-address': 'udp://10.0.0.5:514'}})
    expect(quiet.logging).toBeUndefined()
    expect(logConfig(quiet)).toEqual({Type: 'local', Config: DEFAULT_LOGGING.options})
  })

  it('names the field and the line of a bad one', () => {
    let error: unknown
    try {
      parseManifest(manifest('        logging: {driver: syslog, options: {syslog-adress: "udp://x:1"}}'), 'm.yml')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ManifestError)
    expect((error as ManifestError).message).toMatch(
      /^m\.yml: line 7: hosts\[0\]\.containers\[0\]\.logging\.options\.syslog-adress: Unrecognized key/,
    )
  })
})

describe('a service that requires syslog_drain', () => {
  const drain = (uri: string) =>
    catalog()
      .replace('    bindable: true\n', '    bindable: true\n    requires: [syslog_drain]\n')
      .replace('kv://{host}:{port}', uri)

  it('gives its bindings a drain URL: its plans say syslog://, syslog-tls:// or https://', () => {
    for (const uri of ['syslog://{host}:{port}', 'syslog-tls://{host}:{port}', 'https://{host}:{port}/drain'])
      expect(() => parseCatalog(drain(uri), 'catalog.yml')).not.toThrow()
    let error: unknown
    try {
      parseCatalog(drain('kv://{host}:{port}'), 'catalog.yml')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(CatalogError)
    expect((error as CatalogError).problems[0]).toMatchObject({
      path: 'services[0].plans[0].container.uri',
      line: 15,
      message: expect.stringContaining('syslog://'),
    })
  })
})
