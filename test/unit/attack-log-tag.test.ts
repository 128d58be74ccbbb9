import {describe, expect, it} from 'vitest'

import {CatalogError, parseCatalog} from '../../src/catalog/index.js'

// Attack: Docker runs a logging driver's `tag` as a Go template on the container's whole logger.Info, so
// `{{.ContainerEnv}}` (or `{{.}}`, `{{json .}}`) puts every env value, the service's password included, in front of
// every line a syslog, journald, gelf or fluentd driver sends on (checked against a real engine). The `env` and
// `env-regex` options are refused for credentials; the tag must be too.
const catalog = (tag: string) => `services:
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
          logging: {driver: syslog, options: {syslog-address: "tcp://127.0.0.1:5514", tag: ${JSON.stringify(tag)}}}
`

const problemOf = (tag: string): string | undefined => {
  try {
    parseCatalog(catalog(tag), 'catalog.yml')
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError)
    return (error as CatalogError).problems.map((p) => `${p.path}: ${p.message}`).join('; ')
  }
}

describe("a logging tag cannot copy the container's environment into its log lines", () => {
  it.each([
    '{{.ContainerEnv}}',
    'app {{index .ContainerEnv 0}}',
    '{{.}}',
    '{{json .}}',
    '{{printf "%v" .}}',
    '{{ .Name }}{{',
  ])('the tag %s is refused, naming the field', (tag) => {
    expect(problemOf(tag)).toMatch(/container\.logging\.options\.tag: .*\{\{\.Name\}\}/)
  })

  it.each([
    '{{.Name}}',
    'shop/{{.ImageName}}/{{.ID}}',
    '{{.FullID}} {{.ImageID}} {{.ImageFullID}} {{.DaemonName}}',
    'plain',
  ])('the tag %s (Docker’s documented fields only) is taken', (tag) => {
    expect(problemOf(tag)).toBeUndefined()
  })
})
