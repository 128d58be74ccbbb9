import type {Hook} from '@oclif/core'

import {escapeControls} from '../../core/control-chars.js'

/** Edits from `a` to `b` (Levenshtein), for "did you mean". */
export function editDistance(a: string, b: string): number {
  let row = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length]
}

/** What to tell someone who typed `words`: a near command, or the command that got an argument it doesn't take. */
export function unknownCommand(words: string[], commands: string[]): {message: string; hint: string} {
  const typed = words.join(' ')
  const spaced = commands.map((id) => id.replaceAll(':', ' '))
  const [closest] = spaced.map((c) => ({c, d: editDistance(typed, c)})).sort((x, y) => x.d - y.d)
  if (closest && closest.d <= Math.max(2, Math.floor(typed.length / 3))) {
    return {message: `there is no command ${typed}`, hint: `did you mean \`dbroker ${closest.c}\`?`}
  }
  for (let n = words.length - 1; n > 0; n--) {
    const parent = words.slice(0, n).join(' ')
    if (spaced.includes(parent))
      return {
        message: `${parent} takes no argument ${words.slice(n).join(' ')}`,
        hint: `see \`dbroker ${parent} --help\``,
      }
  }
  return {message: `there is no command ${typed}`, hint: 'list the commands with `dbroker --help`'}
}

/** An unknown command is a usage error like any other: exit 2, "did you mean", and the --json envelope. */
const hook: Hook<'command_not_found'> = async function (options) {
  const words = options.id.split(':').map((w) => escapeControls(w))
  const aliases = options.config.commands.flatMap((c) => c.aliases)
  const {message, hint} = unknownCommand(words, [...options.config.commandIDs, ...aliases])
  if ((options.argv ?? []).includes('--json'))
    process.stdout.write(`${JSON.stringify({status: 2, error: {name: 'UsageError', message}})}\n`)
  else process.stderr.write(`Error: ${message}\n  Try: ${hint}\n`)
  this.exit(2)
}

export default hook
