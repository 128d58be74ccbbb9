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

/** A word as a shell line shows it: quoted when the shell would split or expand it. */
const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)

/**
 * What to tell someone who typed `words` (oclif's id: the words before the first flag) and then `rest`: the
 * command nearest to as many of the first words as it has, with the rest of the line as typed after it; or
 * the command that got an argument it doesn't take.
 */
export function unknownCommand(
  words: string[],
  commands: string[],
  rest: string[] = [],
): {message: string; hint: string} {
  const spaced = [...new Set(commands.map((id) => id.replaceAll(':', ' ')))]
  let best: {command: string; distance: number; length: number} | undefined
  for (const command of spaced) {
    const length = command.split(' ').length
    if (length > words.length) continue
    const typed = words.slice(0, length).join(' ')
    const distance = editDistance(typed, command)
    if (distance > Math.max(2, Math.floor(typed.length / 3))) continue
    // More words matched is the better guess (`hosts regstry` is hosts registry, not hosts with an argument).
    if (!best || length > best.length || (length === best.length && distance < best.distance))
      best = {command, distance, length}
  }
  if (best?.distance === 0)
    return {
      message: `${best.command} takes no argument ${words.slice(best.length).join(' ')}`,
      hint: `see \`dbroker ${best.command} --help\``,
    }
  if (best) {
    const line = [best.command, ...[...words.slice(best.length), ...rest].map(shellWord)].join(' ')
    return {
      message: `there is no command ${words.slice(0, best.length).join(' ')}`,
      hint: `did you mean \`dbroker ${line}\`?`,
    }
  }
  const topics = new Set(spaced.filter((c) => c.includes(' ')).map((c) => c.split(' ')[0]))
  const typed = words.slice(0, topics.has(words[0]) ? 2 : 1).join(' ')
  return {message: `there is no command ${typed}`, hint: 'list the commands with `dbroker --help`'}
}

/** An unknown command is a usage error like any other: exit 2, "did you mean", and the --json envelope. */
const hook: Hook<'command_not_found'> = async function (options) {
  const words = options.id.split(':').map((w) => escapeControls(w))
  const aliases = options.config.commands.flatMap((c) => c.aliases)
  const rest = (options.argv ?? []).map((w) => escapeControls(w))
  const {message, hint} = unknownCommand(words, [...options.config.commandIDs, ...aliases], rest)
  // The envelope has no hint field: a suggestion goes into the message, so a script's log shows it.
  const suggestion = hint.startsWith('did you mean') ? `; ${hint}` : ''
  if (rest.includes('--json'))
    process.stdout.write(
      `${JSON.stringify({status: 2, error: {name: 'UsageError', message: `${message}${suggestion}`}})}\n`,
    )
  else process.stderr.write(`Error: ${message}\n  Try: ${hint}\n`)
  this.exit(2)
}

export default hook
