import {escapeControls} from '../core/control-chars.js'
import type {Tone} from '../core/format.js'

export interface Column<T> {
  header: string
  value: (row: T) => string
  align?: 'left' | 'right'
  tone?: (row: T) => Tone | undefined
}

/** Colour only for a terminal, and never with NO_COLOR or TERM=dumb. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb'
}

const CODES: Record<Tone, string> = {good: '32', warn: '33', bad: '31', muted: '2'}

export function paint(text: string, tone: Tone | undefined, enabled = colorEnabled()): string {
  return enabled && tone ? `\u001B[${CODES[tone]}m${text}\u001B[0m` : text
}

/** A plain table: a header line and rows, columns aligned with two spaces between them; what the broker sent can't steer the terminal. */
export function renderTable<T>(rows: T[], columns: Array<Column<T>>, options: {color?: boolean} = {}): string {
  const color = options.color ?? colorEnabled()
  const cells = rows.map((row) => columns.map((c) => escapeControls(c.value(row))))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)))
  const line = (values: string[], tones?: Array<Tone | undefined>) =>
    values
      .map((v, i) => {
        const padded =
          columns[i].align === 'right' ? v.padStart(widths[i]) : i === values.length - 1 ? v : v.padEnd(widths[i])
        return paint(padded, tones?.[i], color)
      })
      .join('  ')
      .trimEnd()
  return (
    [
      line(columns.map((c) => c.header.toUpperCase())),
      ...cells.map((r, j) =>
        line(
          r,
          columns.map((c) => c.tone?.(rows[j])),
        ),
      ),
    ].join('\n') + '\n'
  )
}
