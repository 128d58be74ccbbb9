import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {describe, expect, it} from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const commandsDir = path.join(root, 'src/commands')

/** oclif's ids for a commands dir: `instances/list.ts` -> `instances:list`, `db/index.ts` -> `db`. */
function commandFiles(dir = commandsDir, prefix = ''): Array<{id: string; file: string}> {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) return commandFiles(path.join(dir, entry.name), rel)
    if (!/\.tsx?$/.test(entry.name) || entry.name.endsWith('.d.ts') || /\.test\.tsx?$/.test(entry.name)) return []
    const id = rel
      .replace(/\.tsx?$/, '')
      .replace(/\/index$/, '')
      .split('/')
      .join(':')
    return [{id, file: path.join(commandsDir, rel)}]
  })
}

const manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8')) as {
  version: string
  commands: Record<string, {flags: Record<string, unknown>; args: Record<string, unknown>}>
}

describe('the committed oclif.manifest.json', () => {
  it('lists exactly the commands in src/commands (run `npm run build` to regenerate it)', () => {
    expect(Object.keys(manifest.commands).sort()).toEqual(
      commandFiles()
        .map((c) => c.id)
        .sort(),
    )
  })

  it('has the version of package.json', () => {
    expect(manifest.version).toBe(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version)
  })

  it('has each command’s flags and args as the source declares them', async () => {
    for (const {id, file} of commandFiles()) {
      const command = (await import(pathToFileURL(file).href)).default as {
        flags?: Record<string, unknown>
        baseFlags?: Record<string, unknown>
        args?: Record<string, unknown>
        enableJsonFlag?: boolean
      }
      // oclif adds --json itself to a command that enables it.
      const flags = Object.keys({
        ...command.baseFlags,
        ...command.flags,
        ...(command.enableJsonFlag ? {json: true} : {}),
      }).sort()
      expect(Object.keys(manifest.commands[id]?.flags ?? {}).sort(), `flags of ${id}`).toEqual(flags)
      expect(Object.keys(manifest.commands[id]?.args ?? {}).sort(), `args of ${id}`).toEqual(
        Object.keys(command.args ?? {}).sort(),
      )
    }
  }, 30_000)
})
