import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

const read = (relative: string) => readFileSync(fileURLToPath(new URL(`../../${relative}`, import.meta.url)), 'utf8')

const readme = read('README.md')
const manifest = JSON.parse(read('oclif.manifest.json')) as {
  commands: Record<string, {flags: Record<string, {char?: string; allowNo?: boolean; hidden?: boolean}>}>
}
/** Every command has these (BrokerCommand's and oclif's own); the README says so once. */
const GLOBAL = new Set(['json', 'context', 'log-level', 'help'])

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe("the README's CLI reference against the commands' flags", () => {
  it('documents every flag a command has: as --flag, --no-flag, or its short form in a code span', () => {
    const missing = Object.entries(manifest.commands).flatMap(([id, command]) =>
      Object.entries(command.flags).flatMap(([name, flag]) => {
        if (flag.hidden || GLOBAL.has(name)) return []
        const documented =
          readme.includes(`--${name}`) ||
          (flag.allowNo && readme.includes(`--no-${name}`)) ||
          (flag.char && new RegExp(`\`[^\`\\n]*-${escape(flag.char)}\\b`).test(readme))
        return documented ? [] : [`${id.replaceAll(':', ' ')} --${name}`]
      }),
    )
    expect(missing).toEqual([])
  })

  it("documents no flag in the command table that the row's commands lack", () => {
    const rows = readme.split('\n').filter((line) => line.startsWith('| `dbroker '))
    expect(rows.length).toBeGreaterThan(20)
    const wrong = rows.flatMap((row) => {
      const cell = row.split(/(?<!\\)\|/)[1]
      const topics = [...cell.matchAll(/`dbroker ([a-z-]+)/g)].map((m) => m[1])
      const flags = Object.entries(manifest.commands)
        .filter(([id]) => topics.includes(id.split(':')[0]))
        .flatMap(([, command]) =>
          Object.entries(command.flags).flatMap(([name, flag]) => [
            `--${name}`,
            ...(flag.allowNo ? [`--no-${name}`] : []),
            ...(flag.char ? [`-${flag.char}`] : []),
          ]),
        )
      return [...cell.matchAll(/(?<![\w-])--?[a-z][a-z-]*/g)]
        .map((m) => m[0])
        .filter((flag) => !flags.includes(flag))
        .map((flag) => `${topics.join('/')}: ${flag}`)
    })
    expect(wrong).toEqual([])
  })
})
