import {escapeControls} from '../../core/control-chars.js'

const TAB_STOP = 8
const SGR = /\u001B\[[0-9;]*m/g
const WIDE =
  /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]/u
// Combining marks on their own, by code point: their width is what is being measured.
// eslint-disable-next-line no-misleading-character-class
const ZERO = /[\u0300-\u036F\u200B-\u200D\uFE00-\uFE0F]/u

/** Columns one character takes in a terminal: 2 for wide (CJK, emoji), 0 for combining marks. */
export const charColumns = (char: string): number => (ZERO.test(char) ? 0 : WIDE.test(char) ? 2 : 1)

export const columns = (text: string): number => [...text].reduce((n, c) => n + charColumns(c), 0)

/**
 * A tenant's log line as the screen draws it: tabs expanded to stops of 8,
 * colours dropped, every other control character written out visibly, so
 * the line's width is what the layout counts and nothing steers the terminal.
 */
export function screenText(raw: string): string {
  const visible = escapeControls(raw.replace(SGR, ''), {keepTabs: true})
  if (!visible.includes('\t')) return visible
  let out = ''
  let column = 0
  for (const char of visible) {
    if (char === '\t') {
      const pad = TAB_STOP - (column % TAB_STOP)
      out += ' '.repeat(pad)
      column += pad
    } else {
      out += char
      column += charColumns(char)
    }
  }
  return out
}

/** `text` cut into rows of at most `width` columns (by column, not by word, so the row count is exact). */
export function hardWrap(text: string, width: number): string[] {
  const rows: string[] = []
  let row = ''
  let used = 0
  for (const char of text) {
    const w = charColumns(char)
    if (used + w > width && row) {
      rows.push(row)
      row = ''
      used = 0
    }
    row += char
    used += w
  }
  rows.push(row)
  return rows
}
