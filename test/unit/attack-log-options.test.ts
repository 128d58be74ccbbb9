import {describe, expect, it} from 'vitest'

import {CatalogError, parseCatalog} from '../../src/catalog/index.js'

// Attack: Docker runs a logging driver's `tag` as a Go template on the container's whole logger.Info, so
// `{{.ContainerEnv}}` (or `{{.}}`, `{{json .}}`) puts every env value, the service's password included, in front of
// every line a syslog, journald, gelf or fluentd driver sends on (checked against a real engine). The `env` and
// `env-regex` options are refused for credentials; the tag must be too.
const catalog = (options: string) => `services:
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
          logging: {driver: syslog, options: {syslog-address: "tcp://127.0.0.1:5514", ${options}}}
`

const problemOf = (options: string): string | undefined => {
  try {
    parseCatalog(catalog(options), 'catalog.yml')
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
    expect(problemOf(`tag: ${JSON.stringify(tag)}`)).toMatch(/container\.logging\.options\.tag: .*\{\{\.Name\}\}/)
  })

  it.each([
    '{{.Name}}',
    'shop/{{.ImageName}}/{{.ID}}',
    '{{.FullID}} {{.ImageID}} {{.ImageFullID}} {{.DaemonName}}',
    'plain',
  ])('the tag %s (Docker’s documented fields only) is taken', (tag) => {
    expect(problemOf(`tag: ${JSON.stringify(tag)}`)).toBeUndefined()
  })
})

// Docker matches env-regex with Go's RE2, the catalog's check with JavaScript's: where they differ (\\A and \\z are
// anchors in Go, the letters A and z in JavaScript; POSIX classes; inline flags), the check passed a regex that
// Docker then matched against KV_PASSWORD (Go: regexp.MustCompile(`\\AKV_`).MatchString("KV_PASSWORD") is true).
describe('an env-regex means the same to the check as to Docker', () => {
  it.each(['\\AKV_', 'PASSWORD\\z', '[[:upper:]]+_PASSWORD', '(?i)kv_password', '\\x4bV_PASSWORD'])(
    'the env-regex %s is refused',
    (regex) => {
      expect(problemOf(`env-regex: ${JSON.stringify(regex)}`)).toMatch(/container\.logging\.options/)
    },
  )

  it.each(['^APP_', '^(APP|WEB)_[A-Z]+$', 'LOG.*'])(
    'the env-regex %s, which names no credential, is taken',
    (regex) => {
      expect(problemOf(`env-regex: ${JSON.stringify(regex)}`)).toBeUndefined()
    },
  )
})
