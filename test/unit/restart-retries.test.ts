import {describe, expect, it} from 'vitest'

import {CatalogError, parseCatalog} from '../../src/catalog/index.js'
import type {ContainerSpec} from '../../src/core/types.js'
import {createOptions} from '../../src/docker/engine.js'
import {ManifestError, parseManifest} from '../../src/manifest/index.js'
import {toSpecs} from '../../src/manifest/specs.js'
import {kvPlanCatalog, kvPlanSpec, testHost} from '../helpers/plan-spec.js'

const policyOf = (spec: ContainerSpec) => createOptions(spec, 'a1b2c3d4e5f6').HostConfig!.RestartPolicy

const manifest = (restart: string) =>
  `name: d\nhosts:\n  - name: h1\n    containers:\n      - name: job\n        image: example/job:1\n        restart: ${restart}\n`

async function manifestSpec(restart: string): Promise<ContainerSpec> {
  const specs = await toSpecs(parseManifest(manifest(restart), 'm.yml'), {
    hosts: new Map([['h1', testHost]]),
    allocate: async () => [],
  })
  return specs.hosts.h1[0]
}

const catalog = (restart: string) => kvPlanCatalog(`          restart: ${restart}`)
const planSpec = (restart: string) => kvPlanSpec(`          restart: ${restart}`)

function errorOf(load: () => unknown): string {
  try {
    load()
  } catch (error) {
    expect(error instanceof ManifestError || error instanceof CatalogError).toBe(true)
    return (error as Error).message
  }
  throw new Error('loaded without an error')
}

describe('restart: on-failure:N', () => {
  it("a manifest container's N is the engine's retry count, not a fixed 5", async () => {
    expect(policyOf(await manifestSpec('on-failure:3'))).toEqual({Name: 'on-failure', MaximumRetryCount: 3})
    expect(policyOf(await manifestSpec('on-failure:12'))).toEqual({Name: 'on-failure', MaximumRetryCount: 12})
    // Without N the engine retries 5 times, as before; other policies take no count.
    expect(policyOf(await manifestSpec('on-failure'))).toEqual({Name: 'on-failure', MaximumRetryCount: 5})
    expect(policyOf(await manifestSpec('always'))).toEqual({Name: 'always', MaximumRetryCount: undefined})
  })

  it("a plan's N reaches the engine too, and the stored catalog (parsed again from its own output) keeps it", () => {
    expect(policyOf(planSpec('on-failure:2'))).toEqual({Name: 'on-failure', MaximumRetryCount: 2})
    expect(policyOf(planSpec('on-failure'))).toEqual({Name: 'on-failure', MaximumRetryCount: 5})
    expect(planSpec('unless-stopped')).not.toHaveProperty('restartRetries')
    const {definition} = parseCatalog(catalog('on-failure:2'), 'catalog.yml')
    const again = parseCatalog(JSON.stringify(definition), 'the stored catalog')
    expect(again.definition.services[0].plans[0].container!.restart).toBe('on-failure:2')
  })

  it('an N that is not a positive integer is an error naming the field and, in a manifest, the line', () => {
    for (const bad of ['on-failure:0', 'on-failure:-1', 'on-failure:two', 'on-failure:1.5', '"on-failure:"'])
      expect(errorOf(() => parseManifest(manifest(bad), 'm.yml'))).toBe(
        `m.yml: line 7: hosts[0].containers[0].restart: "${bad.replace(/"/g, '')}": the retry count N of on-failure:N must be a positive integer (e.g. on-failure:3)`,
      )
    expect(errorOf(() => parseManifest(manifest('always:3'), 'm.yml'))).toBe(
      'm.yml: line 7: hosts[0].containers[0].restart: "always:3": only on-failure takes a retry count (on-failure:N)',
    )
    expect(errorOf(() => parseCatalog(catalog('on-failure:0'), 'catalog.yml'))).toMatch(
      /^invalid catalog catalog\.yml:\n {2}line 15: services\[0\]\.plans\[0\]\.container\.restart: "on-failure:0": the retry count N of on-failure:N must be a positive integer/,
    )
    expect(errorOf(() => parseCatalog(catalog('sometimes'), 'catalog.yml'))).toMatch(
      /container\.restart: "sometimes" is not a restart policy: use always, unless-stopped, on-failure\[:N\] or no/,
    )
  })
})
