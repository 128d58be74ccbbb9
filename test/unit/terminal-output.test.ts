import {describe, expect, it} from 'vitest'

import {instancesTable} from '../../src/cli/views.js'
import type {InstanceView} from '../../src/core/admin.js'
import {createLogger} from '../../src/core/log.js'
import {fit} from '../../src/ui/top/model.js'
import {parseLogLine} from '../../src/ui/top/use-log-buffer.js'

const EVIL = 'cache\u001b]0;owned\u0007\u001b[2J\u009b31m'

const view = (name: string): InstanceView => ({
  id: 'i-1',
  name,
  service: 'redis',
  plan: 'small',
  serviceId: 's',
  planId: 'p',
  hostId: 'local',
  address: '127.0.0.1',
  ports: [{container: 6379, host: 40000, protocol: 'tcp'}],
  state: 'ready',
  container: null,
  stats: null,
  createdAt: 0,
})

describe('what the broker sends never steers the terminal', () => {
  it('`dbroker instances` shows an ESC in a name as \\x1b, with no raw control character left', () => {
    const out = instancesTable([view(EVIL)], {color: false})
    expect(out).toContain('cache\\x1b]0;owned\\x07\\x1b[2J\\x9b31m')
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
  })

  it('the top screen escapes the same way', () => {
    expect(fit(EVIL, 60).trimEnd()).toBe('cache\\x1b]0;owned\\x07\\x1b[2J\\x9b31m')
  })

  it("top's log panel expands tabs, drops colours and obeys no other escape (no clipboard write by OSC 52)", () => {
    expect(
      parseLogLine('2026-12-01T22:00:00.000000000Z \u001b[31mred\u001b[0m\ttab \u001b]52;c;cGF5bG9hZA==\u0007').text,
    ).toBe('red     tab \\x1b]52;c;cGF5bG9hZA==\\x07')
  })
})

describe('log lines', () => {
  it('an id with a newline cannot forge a second entry', () => {
    const lines: string[] = []
    const log = createLogger('info', (line) => lines.push(line))
    log.warn('unbind of binding b1\n2026-12-01T22:00:00.000Z info  admin logged in\u001b[2K failed')
    expect(lines).toHaveLength(1)
    expect(lines[0].split('\n')).toEqual([
      expect.stringContaining('b1\\n2026-12-01T22:00:00.000Z info  admin logged in\\x1b[2K failed'),
      '',
    ])
  })
})

describe("the CLI's own multi-line messages", () => {
  it('keep their line breaks and tabs, and still escape what could steer the terminal', async () => {
    const {escapeControls} = await import('../../src/core/control-chars.js')
    const parse = 'Parsing --interval \n\tExpected an integer but received: 0\u001B]0;owned\u0007'
    expect(escapeControls(parse, {keepLineBreaks: true})).toBe(
      'Parsing --interval \n\tExpected an integer but received: 0\\x1b]0;owned\\x07',
    )
    expect(escapeControls(parse)).toContain('\\n\\t')
  })
})
