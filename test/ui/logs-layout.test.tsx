import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import {LogsPanel} from '../../src/ui/top/logs-panel.js'
import {parseLogLine} from '../../src/ui/top/use-log-buffer.js'

// What PostgreSQL writes for every failed login, tabs included.
const FAILED_LOGIN =
  '2026-12-01T22:00:00.000000001Z 2026-12-01 22:00:00.000 UTC [88] FATAL:\tpassword authentication failed for user "bob"\n\tDETAIL:\tConnection matched pg_hba.conf line 3'
const LONG_WORD = `token=${'x'.repeat(150)}END`
const LONG_TEXT = `${Array.from({length: 40}, (_, i) => `w${i}`).join(' ')} TAIL`

function frameOf(lines: string[], options: {wrap: boolean; timestamps: boolean; height?: number}) {
  const parsed = lines.flatMap((l) => l.split('\n')).map(parseLogLine)
  return render(
    <LogsPanel
      title="pg"
      buffer={{lines: parsed, dropped: 0, error: null, ended: false}}
      bottom={parsed.length - 1}
      height={options.height ?? 19}
      width={80}
      follow
      wrap={options.wrap}
      timestamps={options.timestamps}
      search=""
    />,
  ).lastFrame()!
}

const inner = (frame: string) =>
  frame
    .split('\n')
    .slice(2, -1)
    .map((row) => row.replace(/^│ /, '').replace(/ *│$/, ''))

describe('the log view at 80 columns', () => {
  it('a line with tabs and a control character keeps the border and the title where they belong', () => {
    const frame = frameOf([FAILED_LOGIN, '2026-12-01T22:00:01.000000001Z bell\u0007 and \u001b[31mred\u001b[0m'], {
      wrap: false,
      timestamps: false,
    })
    const rows = frame.split('\n')
    expect(rows[0]).toMatch(/^╭─+╮$/)
    expect(rows[1]).toMatch(/^│ Logs: pg/)
    expect(rows.at(-1)).toMatch(/^╰─+╯$/)
    for (const row of rows) {
      expect(row).not.toContain('\t')
      expect([...row].length).toBe(80)
      expect(row.endsWith('╮') || row.endsWith('│') || row.endsWith('╯')).toBe(true)
    }
    expect(frame).toMatch(/FATAL: +password authentication failed/)
    expect(frame).toMatch(/│ {9}DETAIL: +Connection/)
    expect(frame).toContain('bell\\x07 and red')
  })

  it('with wrap on, every piece of a long line is shown and the rows fit the height exactly', () => {
    for (const timestamps of [false, true]) {
      const frame = frameOf(
        [FAILED_LOGIN, `2026-12-01T22:00:02.000000001Z ${LONG_WORD}`, `2026-12-01T22:00:03.000000001Z ${LONG_TEXT}`],
        {wrap: true, timestamps},
      )
      const rows = frame.split('\n')
      expect(rows.length).toBeLessThanOrEqual(19 + 3)
      for (const row of rows) expect([...row].length).toBe(80)
      const text = inner(frame)
        .map((row) => (timestamps ? row.replace(/^(2026-12-01T22:00:0\d\.000| {23}) /, '') : row))
        .join('')
        .replace(/ +/g, ' ')
      expect(text).toContain(LONG_WORD)
      expect(text).toContain(LONG_TEXT)
      expect(text).toContain('Connection matched pg_hba.conf line 3')
    }
  })

  it("a window smaller than the newest line shows that line's end, not its start", () => {
    const frame = frameOf([`2026-12-01T22:00:02.000000001Z ${'y'.repeat(76 * 5)}LAST`], {
      wrap: true,
      timestamps: false,
      height: 3,
    })
    expect(frame.split('\n')).toHaveLength(3 + 3)
    expect(frame).toContain('LAST')
  })
})
