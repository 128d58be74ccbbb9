import {createInterface} from 'node:readline/promises'

import {DbrokerError, UsageError} from '../core/errors.js'

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
