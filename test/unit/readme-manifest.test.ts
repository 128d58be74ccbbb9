import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {parseManifest} from '../../src/manifest/index.js'

const read = (relative: string) => readFileSync(fileURLToPath(new URL(`../../${relative}`, import.meta.url)), 'utf8')

/** The manifest README.md shows under "Manifest deploys": the ```yaml block that starts with `name: shop`. */
function readmeManifest(): string {
  const block = /```yaml\n(name: shop\n[\s\S]*?)```/.exec(read('README.md'))?.[1]
  if (!block) throw new Error('README.md has no manifest example (```yaml starting with name: shop)')
  return block
}

describe("the README's manifest and examples/deployment.yml", () => {
  it('are one file: what an operator copies from the README is what examples/ ships, byte for byte', () => {
    expect(read('examples/deployment.yml')).toBe(readmeManifest())
  })

  it("loads with the project's manifest parser without an error", () => {
    const deployment = parseManifest(readmeManifest(), 'deployment.yml')
    expect(deployment.hosts.map((h) => [h.name, h.containers.map((c) => c.name)])).toEqual([
      ['h1', ['redis', 'app', 'web']],
    ])
  })
})
