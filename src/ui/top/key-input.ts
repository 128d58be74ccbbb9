// What the terminal sends, as the key names the key table binds: characters, named keys, the wheel and clicks.
import type {Key} from 'ink'

const CHARACTER_KEYS: Record<string, string> = {
  '\r': 'enter',
  '\n': 'enter',
  '\t': 'tab',
  '\u007F': 'backspace',
  '\b': 'backspace',
}

/** A mouse report as Ink hands it over (SGR form, without the ESC): button, column and row (1-based). */
const MOUSE = /^\[<(\d+);(\d+);(\d+)([Mm])$/

/** Wheel turns and left-button presses; the row a click lands on travels in the name (`click:ROW`). */
function mouseKey(input: string): string[] | undefined {
  const report = MOUSE.exec(input)
  if (!report) return undefined
  const [, button, , row, kind] = report
  if (button === '64') return ['wheel-up']
  if (button === '65') return ['wheel-down']
  if (button === '0' && kind === 'M') return [`click:${row}`]
  return []
}

/**
 * The key names in one input event. Ink hands over a chunk typed fast or
 * pasted (`jjjjj`, `/redis`) as one string: each of its characters is a key.
 */
export function keyNames(input: string, key: Key): string[] {
  if (key.ctrl && input === 'c') return ['ctrl-c']
  if (key.upArrow) return ['up']
  if (key.downArrow) return ['down']
  if (key.leftArrow) return ['left']
  if (key.rightArrow) return ['right']
  if (key.pageUp) return ['pageup']
  if (key.pageDown) return ['pagedown']
  if (key.return) return ['enter']
  if (key.escape) return ['esc']
  if (key.tab) return ['tab']
  if (key.backspace || key.delete) return ['backspace']
  if (key.ctrl) return []
  const mouse = mouseKey(input)
  if (mouse) return mouse
  return [...input].map((c) => CHARACTER_KEYS[c] ?? c)
}
