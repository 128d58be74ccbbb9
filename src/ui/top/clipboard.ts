/** Anything the screen writes raw bytes to: the terminal's stdout. */
interface Terminal {
  write(data: string): unknown
}

/**
 * Puts text on the terminal's clipboard with OSC 52, which terminals honour locally
 * and over SSH; tmux takes it into its paste buffer (and passes it on) with
 * `set -g set-clipboard on`.
 */
export function copyToClipboard(terminal: Terminal, text: string): void {
  terminal.write(`\u001B]52;c;${Buffer.from(text, 'utf8').toString('base64')}\u0007`)
}
