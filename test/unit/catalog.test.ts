import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {CatalogError, defaultCatalogPath, loadCatalog, parseCatalog} from '../../src/catalog/index.js'

const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const defaultText = readFileSync(defaultCatalogPath, 'utf8')

/** Writes a catalog file and returns the error loading it raises. */
function loadError(name: string, text: string): CatalogError {
  const file = path.join(dir, name)
  writeFileSync(file, text)
  try {
    loadCatalog(file)
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError)
    return error as CatalogError
  }
  throw new Error(`${name} loaded without an error`)
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1

const minimal = (plan: string) => `services:
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
          credentials: {env: {password: PASSWORD}}
${plan}
`

describe('catalog loader', () => {
  it('loads the catalog that ships with dbroker: redis, postgresql, mariadb and the log collector, their plans and images', () => {
    const catalog = loadCatalog()
    expect(catalog.definition.services.map((s) => s.name)).toEqual(['redis', 'postgresql', 'mariadb', 'log-collector'])
    expect(catalog.serviceByName('postgresql')!.plans.map((p) => p.name)).toEqual(['small', 'medium', 'shared'])
    expect(
      catalog
        .images()
        .map((i) => i.image)
        .sort(),
    ).toEqual(['dbroker/log-collector:1', 'dbroker/mariadb:10.11', 'dbroker/postgresql:15', 'dbroker/redis:7'])
    // `build` is resolved against the catalog's own directory.
    for (const {build} of catalog.images()) expect(path.isAbsolute(build!.context)).toBe(true)
    // The medium plan inherits the small plan's container through a YAML merge key and overrides its size.
    const medium = catalog.plan('202e25c1-be27-4019-ab5d-1216289c6e30')!.plan
    expect(medium.container!.image).toBe('dbroker/postgresql:15')
    expect(medium.container!.memory).toBe(1024 ** 3)
  })

  it('says which file and line hold a YAML syntax error', () => {
    const text = 'services:\n  - id: x\n    name: [unclosed\n    description: d\n'
    const error = loadError('syntax.yml', text)
    expect(error.message).toContain(path.join(dir, 'syntax.yml'))
    expect(error.problems[0].line).toBeGreaterThanOrEqual(3)
    expect(error.problems[0].line).toBeLessThanOrEqual(5)
  })

  it('names the file, the path and the line of a schema error', () => {
    const text = defaultText.replace('name: medium', 'name: Medium Plan')
    const error = loadError('schema.yml', text)
    expect(error.message).toContain(path.join(dir, 'schema.yml'))
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0].path).toBe('services[1].plans[1].name')
    expect(error.problems[0].line).toBe(lineOf(text, 'name: Medium Plan'))
    expect(error.message).toMatch(/line \d+: services\[1\]\.plans\[1\]\.name: use lowercase/)
  })

  it('points at an unknown key itself, not at its parent', () => {
    const text = minimal('          uri: kv://{host}:{port}\n          colour: blue')
    const error = loadError('unknown-key.yml', text)
    expect(error.problems[0].path).toBe('services[0].plans[0].container.colour')
    expect(error.problems[0].line).toBe(lineOf(text, 'colour: blue'))
  })

  it('refuses a missing required field with the path of the object that lacks it', () => {
    const text = minimal('          uri: kv://{host}:{port}').replace('          ports: [6379]\n', '')
    const error = loadError('missing.yml', text)
    expect(error.problems.map((p) => p.path)).toContain('services[0].plans[0].container.ports')
  })

  it('refuses an id used twice and says where it was first used', () => {
    const text = defaultText.replace(
      'id: 202e25c1-be27-4019-ab5d-1216289c6e30',
      'id: 007b1e94-65ac-4cc9-a4fa-6eecaf6c126a',
    )
    const error = loadError('duplicate-id.yml', text)
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0].path).toBe('services[1].plans[1].id')
    expect(error.problems[0].message).toContain('already used at services[1].plans[0].id')
    expect(error.problems[0].line).toBe(lineOf(text, 'name: medium') - 1)
  })

  it('refuses an unknown placeholder in a credentials uri and lists the known ones', () => {
    const text = minimal('          uri: kv://{user}:{password}@{host}:{port}')
    const error = loadError('placeholder.yml', text)
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0].path).toBe('services[0].plans[0].container.uri')
    expect(error.problems[0].message).toMatch(/unknown placeholder \{user\}; use \{username\}/)
    expect(error.problems[0].line).toBe(lineOf(text, 'uri: kv://'))
  })

  it('accepts the minimal plan with a good uri', () => {
    const catalog = parseCatalog(
      minimal('          uri: kv://{username}:{password}@{host}:{port}'),
      path.join(dir, 'ok.yml'),
    )
    expect(catalog.plan('22222222-2222-4222-8222-222222222222')!.plan.container!.readiness.probe).toBe('none')
  })

  it('a missing catalog file is a clear error naming it', () => {
    expect(() => loadCatalog(path.join(dir, 'nope.yml'))).toThrow(/cannot read catalog .*nope\.yml: ENOENT/)
  })
})
