import {describe, expect, it} from 'vitest'

import {helpLines, helpWindow} from '../../src/ui/top/chrome.js'
import {helpRows, KEY_TABLE} from '../../src/ui/top/keys.js'

/** How a help line writes the table's key names. */
const WRITTEN: Record<string, string> = {up: '↑↓', down: '↑↓', pageup: 'PgUp/Dn', pagedown: 'PgUp/Dn', click: 'mouse'}
/** Keys the help does not list on purpose: aliases of esc, the wheel (the mouse line), and `?` (the help itself). */
const UNLISTED = new Set(['*', 'backspace', 'left', 'wheel-up', 'wheel-down', '?', 'ctrl-c'])

describe("top's help (?)", () => {
  it('comes from the key table: every key the table binds is on a help line', () => {
    const labels = helpRows(false).map(([keys]) => keys)
    // `jk` is the two keys j and k; every other key is a word of its own.
    const listed = new Set(
      labels.flatMap((label) => label.split(/[\s,()]+/).flatMap((t) => (t === 'jk' ? [...t] : [t]))),
    )
    const missing = [...new Set(KEY_TABLE.flatMap((b) => b.keys))]
      .filter((key) => !UNLISTED.has(key))
      .filter((key) => !listed.has(WRITTEN[key] ?? key))
    expect(missing).toEqual([])
    expect(labels.at(-1)).toBe('q, ctrl-c')
  })

  it('names what the README documents: n/N in the logs, / in the events, f w t, the mouse and --no-mouse', () => {
    const text = helpRows(false)
      .map(([keys, what]) => `${keys} ${what}`)
      .join('\n')
    expect(text).toMatch(/n N .*next\/previous match/)
    expect(text).toMatch(/\/ .*the events/)
    expect(text).toMatch(/f w t/)
    expect(text).toMatch(/mouse .*--no-mouse/)
  })

  it('fits 80x24 whole, and says which keys --readonly turns off', () => {
    // 24 rows: the header and the footer take one each.
    expect(helpLines(false, 80).map((l) => `${l.key.padEnd(18)}${l.text}`)).toHaveLength(
      helpWindow(false, 80, 22).shown,
    )
    expect(helpLines(false, 80).every((line) => line.text.length <= 80 - 6 - 18)).toBe(true)
    const readonly = helpRows(true)
    for (const key of ['x', 'r d', 'c y', 'D'])
      expect(readonly.find(([k]) => k === key)?.[1]).toContain('(disabled: read-only)')
    expect(readonly.find(([k]) => k === 'l (f w t)')?.[1]).not.toContain('disabled')
  })
})
