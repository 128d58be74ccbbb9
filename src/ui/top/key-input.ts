// What the terminal sends, as the key names the key table binds: characters, named keys, the wheel and clicks.
const ESC = '\u001B'

const CHARACTER_KEYS: Record<string, string> = {
  '\r': 'enter',
  '\n': 'enter',
  '\t': 'tab',
  '\u007F': 'backspace',
  '\b': 'backspace',
  '\u0003': 'ctrl-c',
}

/** A CSI sequence (ESC [, the legacy ESC [ [ too): its parameters and final byte. */
const CSI = /^\u001B\[\[?([0-?]*)[ -/]*([@-~])$/
/** An SS3 sequence (ESC O and one final byte): what some terminals send for the arrows. */
const SS3 = /^\u001BO([@-~])$/
/** A mouse report (SGR form): button, column and row (1-based), press or release. */
const MOUSE = /^\u001B\[<(\d+);(\d+);(\d+)([Mm])$/

const ARROWS: Record<string, string> = {A: 'up', B: 'down', C: 'right', D: 'left'}
const TILDE: Record<string, string> = {'3': 'backspace', '5': 'pageup', '6': 'pagedown'}

/** Wheel turns and left-button presses; the row a click lands on travels in the name (`click:ROW`). */
function mouseKey(report: RegExpExecArray): string[] {
  const [, button, , row, kind] = report
  if (button === '64') return ['wheel-up']
  if (button === '65') return ['wheel-down']
  if (button === '0' && kind === 'M') return [`click:${row}`]
  return []
}

/** A complete CSI or SS3 sequence as its key (none for those top does not bind); undefined if it is not one. */
function sequenceKey(sequence: string): string[] | undefined {
  const mouse = MOUSE.exec(sequence)
  if (mouse) return mouseKey(mouse)
  const csi = CSI.exec(sequence)
  if (csi) {
    const [, params, final] = csi
    if (ARROWS[final]) return [ARROWS[final]]
    const tilde = final === '~' ? TILDE[params.split(';')[0]] : undefined
    return tilde ? [tilde] : []
  }
  const ss3 = SS3.exec(sequence)
  if (ss3) return ARROWS[ss3[1]] ? [ARROWS[ss3[1]]] : []
  return undefined
}

/**
 * The key names in one input event, as Ink's reader splits stdin (text up to the next ESC; an escape sequence;
 * ESC and the code point after it). A chunk typed fast or pasted (`jjjjj`, `/redis`) is one event: each of its
 * characters is a key. top binds no Alt key, so ESC followed by anything but a CSI/SS3 sequence is esc and then
 * that key: `\x1b\t` (Esc then Tab typed fast, or sent by a macro) is esc, tab — not a lost Alt+Tab.
 */
export function keyNames(input: string): string[] {
  if (!input.startsWith(ESC)) return [...input].flatMap((c) => CHARACTER_KEYS[c] ?? (c < ' ' ? [] : [c]))
  if (input === ESC) return ['esc']
  const sequence = input[1] === '[' || input[1] === 'O' ? sequenceKey(input) : undefined
  return sequence ?? ['esc', ...keyNames(input.slice(1))]
}
