import type {ReactElement} from 'react'

const ENTER = '\u001B[?1049h\u001B[H'
const LEAVE = '\u001B[?25h\u001B[?1049l'
/** Button presses and the wheel, reported in SGR form (`ESC [ < b ; x ; y M`), which has no column limit. */
const MOUSE_ON = '\u001B[?1000h\u001B[?1006h'
const MOUSE_OFF = '\u001B[?1006l\u001B[?1000l'

/**
 * Renders an Ink tree on the terminal's alternate screen and gives the
 * terminal back as it was on every way out: quit, SIGINT/SIGTERM/SIGHUP, a crash.
 */
export async function runFullScreen(
  tree: ReactElement,
  options: {maxFps?: number; mouse?: boolean} = {},
): Promise<void> {
  const {render} = await import('ink')
  const stdout = process.stdout
  let restored = false
  const restore = () => {
    if (restored) return
    restored = true
    stdout.write(`${options.mouse ? MOUSE_OFF : ''}${LEAVE}`)
  }
  stdout.write(`${ENTER}${options.mouse ? MOUSE_ON : ''}`)
  const app = render(tree, {exitOnCtrlC: false, patchConsole: true, maxFps: options.maxFps ?? 15})
  const stop = () => app.unmount()
  const crash = (error: unknown) => {
    app.unmount()
    restore()
    process.stderr.write(
      `dbroker top crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
    process.exit(1)
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const signal of signals) process.on(signal, stop)
  process.on('uncaughtException', crash)
  process.on('unhandledRejection', crash)
  process.on('exit', restore)
  try {
    await app.waitUntilExit()
  } finally {
    app.cleanup()
    restore()
    for (const signal of signals) process.off(signal, stop)
    process.off('uncaughtException', crash)
    process.off('unhandledRejection', crash)
    process.off('exit', restore)
  }
}

/** What node's TTY stream has under it: `pause()` leaves libuv reading, so this is the one way to stop it. */
interface ReadHandle {
  reading?: boolean
  readStop?: () => number
  readStart?: () => number
}

/**
 * Stops this process reading the terminal, for a child that gets it (`x`'s client):
 * once Ink has read stdin, node keeps reading it even paused, and takes keys meant for
 * the child. Returns what starts reading again, for the screen that comes back.
 */
export function releaseTerminalInput(stdin: NodeJS.ReadStream = process.stdin): () => void {
  stdin.pause()
  const handle = (stdin as unknown as {_handle?: ReadHandle})._handle
  if (!handle?.reading || !handle.readStop || !handle.readStart) return () => {}
  handle.readStop()
  handle.reading = false
  return () => {
    handle.readStart!()
    handle.reading = true
  }
}
