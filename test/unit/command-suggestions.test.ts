import {describe, expect, it} from 'vitest'

import {unknownCommand} from '../../src/cli/hooks/command-not-found.js'

const COMMANDS = ['provision', 'show', 'catalog', 'hosts', 'hosts:registry', 'context:list', 'context:add', 'ls']

describe('"did you mean" for a mistyped command', () => {
  it('finds the command in front of its arguments and flags, and gives the whole line back', () => {
    expect(unknownCommand(['provison', 'redis'], COMMANDS, ['--plan', 'small'])).toEqual({
      message: 'there is no command provison',
      hint: 'did you mean `dbroker provision redis --plan small`?',
    })
    expect(unknownCommand(['shwo', 'cache'], COMMANDS)).toEqual({
      message: 'there is no command shwo',
      hint: 'did you mean `dbroker show cache`?',
    })
    expect(unknownCommand(['context', 'lst'], COMMANDS).hint).toBe('did you mean `dbroker context list`?')
  })

  it('takes the longer command when both fit: hosts regstry is hosts registry, not hosts with an argument', () => {
    expect(unknownCommand(['hosts', 'regstry', 'h1'], COMMANDS).hint).toBe('did you mean `dbroker hosts registry h1`?')
  })

  it('quotes what the shell would split in the line it suggests', () => {
    expect(unknownCommand(['provison', 'redis'], COMMANDS, ['-c', '{"a": 1}']).hint).toBe(
      `did you mean \`dbroker provision redis -c '{"a": 1}'\`?`,
    )
  })

  it('a command that exists but got a word it takes no argument for says so; nothing near lists the commands', () => {
    expect(unknownCommand(['catalog', 'extra'], COMMANDS)).toEqual({
      message: 'catalog takes no argument extra',
      hint: 'see `dbroker catalog --help`',
    })
    expect(unknownCommand(['nosuchcommand', 'x'], COMMANDS)).toEqual({
      message: 'there is no command nosuchcommand',
      hint: 'list the commands with `dbroker --help`',
    })
  })
})
