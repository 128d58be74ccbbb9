/**
 * Characters that steer a terminal or a log reader rather than print: C0 and
 * C1 controls, DEL, line/paragraph separators and bidi overrides. The broker
 * refuses them in ids and names; every terminal and log line escapes them.
 */
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g
/** The same without tab and line breaks, which a text value (a PEM, a config snippet) may hold. */
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/
/** An SGR colour sequence (ESC [ ... m): the one escape `dbroker logs` lets through to a terminal. */
const SGR = /^\u001B\[[0-9;]*m/

const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

export function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
}

/** The first control character of `text` (tab and line breaks allowed when `text` is a free-form value). */
export function findControlChar(
  text: string,
  options: {allowLineBreaks?: boolean} = {},
): {char: string; index: number} | undefined {
  const match = options.allowLineBreaks ? CONTROL_IN_TEXT.exec(text) : new RegExp(CONTROL.source).exec(text)
  return match ? {char: match[0], index: match.index} : undefined
}

function escapeOne(char: string): string {
  if (NAMED[char]) return NAMED[char]
  const code = char.codePointAt(0)!
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/**
 * `text` with every control character written out visibly (ESC as `\x1b`, a
 * newline as `\n`), so what came from the broker can't move the cursor, set
 * a title, or start a new log line. `keepColors` lets SGR sequences through.
 */
export function escapeControls(
  text: string,
  options: {keepColors?: boolean; keepTabs?: boolean; keepLineBreaks?: boolean} = {},
): string {
  if (!new RegExp(CONTROL.source).test(text)) return text
  return text.replace(CONTROL, (char, offset: number) => {
    if (options.keepTabs && char === '\t') return char
    // A message this process wrote itself (a flag it could not parse, a line of the operator's own file) may span lines.
    if (options.keepLineBreaks && (char === '\n' || char === '\t')) return char
    if (options.keepColors && char === '\u001B' && SGR.test(text.slice(offset))) return char
    return escapeOne(char)
  })
}

/** A copy of a JSON-shaped value with every string (keys too) escaped: for a screen that shows a whole document. */
export function escapeStrings<T>(value: T): T {
  if (typeof value === 'string') return escapeControls(value) as T
  if (Array.isArray(value)) return value.map((item) => escapeStrings(item)) as T
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeControls(k), escapeStrings(v)])) as T
  return value
}
