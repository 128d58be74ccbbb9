import {createInterface} from 'node:readline/promises'

import {Flags} from '@oclif/core'

import {DbrokerError, UsageError} from '../core/errors.js'

/**
 * `--yes` (-y): do not ask. Every command that asks takes it; `--force` means something
 * else everywhere: do it despite a safety check (replace what exists). A command that
 * used `--force` for "do not ask" keeps it (and -f) as a hidden alias.
 */
export const yesFlag = (options: {formerlyForce?: boolean} = {}) =>
  Flags.boolean({
    char: 'y',
    description: 'do not ask',
    ...(options.formerlyForce ? {aliases: ['force'], charAliases: ['f' as const]} : {}),
  })

/** Asks yes/no on the terminal; without one, fails with how to go on without asking. */
export async function confirm(question: string, nonInteractiveHint: string): Promise<void> {
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new UsageError('confirmation needed, and there is no terminal to ask in', nonInteractiveHint)
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await rl.question(`${question} [y/N] `)
    if (!/^y(es)?$/i.test(answer.trim())) throw new DbrokerError('cancelled')
  } finally {
    rl.close()
  }
}
