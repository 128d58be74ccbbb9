import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {DOCKER_ALONE} from '../docker-groups.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
/** startTestSystem's range when a file names none. */
const DEFAULT_RANGE: [number, number] = [41000, 41999]

/** The host ports a Docker test file names: ranges `[a, b]` and `'a-b'`, `a + Math.floor(Math.random() * n)`, and single ports. */
export function portsOf(source: string): Array<[number, number]> {
  const found: Array<[number, number]> = []
  for (const m of source.matchAll(/\[(\d{4,5}), *(\d{4,5})\]/g)) found.push([Number(m[1]), Number(m[2])])
  for (const m of source.matchAll(/'(\d{4,5})-(\d{4,5})'/g)) found.push([Number(m[1]), Number(m[2])])
  for (const m of source.matchAll(/(\d{4,5}) \+ Math\.floor\(Math\.random\(\) \* (\d+)\)/g))
    found.push([Number(m[1]), Number(m[1]) + Number(m[2]) - 1])
  for (const m of source.matchAll(/\b(?:PORT|port)(?: =|:) (\d{5})\b(?! \+)/g)) found.push([Number(m[1]), Number(m[1])])
  if (/startTestSystem\(/.test(source) && !/portRange/.test(source)) found.push(DEFAULT_RANGE)
  // Container ports (6379, 5432) are not the host's: dbroker's test ranges are all above 40000.
  return found.filter(([a, b]) => a >= 40000 && b >= a)
}

const dockerFiles = ['test/integration', 'test/e2e', 'test/images'].flatMap((dir) =>
  readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `${dir}/${f}`),
)

describe('Docker test files that run side by side use host ports of their own', () => {
  it('finds the ports a file names', () => {
    expect(
      portsOf('const RANGE: [number, number] = [46600, 46649]\nconst port = 42000 + Math.floor(Math.random() * 100)'),
    ).toEqual([
      [46600, 46649],
      [42000, 42099],
    ])
    expect(portsOf("startUp(['--port-range', '42500-42599'])\nconst PORT = 47401")).toEqual([
      [42500, 42599],
      [47401, 47401],
    ])
    expect(portsOf('t = await startTestSystem()')).toEqual([DEFAULT_RANGE])
  })

  it('every file the config runs alone exists', () => {
    for (const file of DOCKER_ALONE) expect(existsSync(path.join(ROOT, file)), file).toBe(true)
  })

  it('no two files run side by side name overlapping ports', () => {
    const side = dockerFiles.filter((f) => !DOCKER_ALONE.includes(f))
    const claims = side.flatMap((file) =>
      portsOf(readFileSync(path.join(ROOT, file), 'utf8')).map(([from, to]) => ({file, from, to})),
    )
    const clashes = claims.flatMap((a, i) =>
      claims
        .slice(i + 1)
        .filter((b) => b.file !== a.file && a.from <= b.to && b.from <= a.to)
        .map((b) => `${a.file} ${a.from}-${a.to} and ${b.file} ${b.from}-${b.to}`),
    )
    expect(clashes).toEqual([])
  })
})
