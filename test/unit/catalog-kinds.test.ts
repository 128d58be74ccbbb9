import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {CatalogError, parseCatalog} from '../../src/catalog/index.js'
import {catalogInDialect} from '../../src/broker/dialect.js'

const plan = (body: string) => `services:
  - id: 11111111-1111-4111-8111-111111111111
    name: db
    description: a database
    bindable: true
    plans:
      - id: 22222222-2222-4222-8222-222222222222
        name: one
        description: one
${body}
`
const container = `        container:
          image: example/db:1
          ports: [3306]
          credentials: {env: {password: PASSWORD}}
          binding_credentials: per-binding
          uri: db://{username}:{password}@{host}:{port}/{database}`
const staticKind = `        kind:
          static:
            credentials: {host: db.example.com, port: 3306, username: app, password: s3cret-given, uri: "db://app:s3cret-given@db.example.com/app"}`

const problemsOf = (text: string) => {
  try {
    parseCatalog(text, path.join('/tmp', 'kinds.yml'))
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError)
    return (error as CatalogError).problems
  }
  throw new Error('the catalog loaded without an error')
}
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1

describe('plan kinds in the catalog', () => {
  it('reads each kind into one shape; a plan without kind is dedicated', () => {
    const kindOf = (text: string) =>
      parseCatalog(text, '/tmp/k.yml').plan('22222222-2222-4222-8222-222222222222')!.plan.kind
    expect(kindOf(plan(container.replace('per-binding', 'shared')))).toEqual({type: 'dedicated'})
    expect(kindOf(plan(`        kind: shared\n${container}`))).toEqual({type: 'shared'})
    expect(kindOf(plan(`        kind: {shared: {container: pool-a}}\n${container}`))).toEqual({
      type: 'shared',
      container: 'pool-a',
    })
    expect(kindOf(plan(staticKind))).toMatchObject({type: 'static', credentials: {username: 'app', port: 3306}})
    expect(
      kindOf(
        plan('        kind: {existing: {host: h1, container: legacy-db, port: 43306, uri: "db://{host}:{port}"}}'),
      ),
    ).toEqual({type: 'existing', host: 'h1', container: 'legacy-db', port: 43306, uri: 'db://{host}:{port}'})
  })

  it('says which field a kind needs or refuses, and on which line', () => {
    const withContainer = plan(`${staticKind}\n${container}`)
    expect(problemsOf(withContainer)).toEqual([
      {
        path: 'services[0].plans[0].container',
        line: lineOf(withContainer, 'image: example/db:1'),
        message: 'a static plan runs no container of its own; leave container out',
      },
    ])
    expect(problemsOf(plan('        free: true'))[0]).toMatchObject({
      path: 'services[0].plans[0].container',
      message: 'a dedicated plan needs a container',
    })
    expect(problemsOf(plan('        kind: {existing: {host: h1, container: legacy, port: 43306}}'))[0]).toMatchObject({
      path: 'services[0].plans[0].kind',
      message: expect.stringMatching(/needs credentials, or a uri/),
    })
    const sharedUsers = plan(`        kind: shared\n${container.replace('per-binding', 'shared')}`)
    expect(problemsOf(sharedUsers)[0].message).toMatch(/its own user: set binding_credentials: per-binding/)
    const badPort = plan(staticKind.replace('port: 3306', 'port: 0'))
    expect(problemsOf(badPort)[0]).toMatchObject({line: lineOf(badPort, 'credentials:')})
  })

  it('keeps kind and its credentials out of the OSB catalog', () => {
    const catalog = parseCatalog(plan(staticKind), '/tmp/k.yml')
    const served = JSON.stringify(catalogInDialect(catalog.definition, 2.17))
    expect(served).not.toContain('s3cret-given')
    expect(served).not.toContain('kind')
  })
})
