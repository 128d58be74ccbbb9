/**
 * Image progress on stderr: a spinner in a terminal, plain lines otherwise
 * (CI, pipes, --json). Results never go to this stream.
 */
export async function imageProgress(
  quiet: boolean,
): Promise<{update: (image: string, line: string) => void; stop: () => void}> {
  const tty = process.stderr.isTTY && !process.env.CI
  if (!tty) {
    let last = ''
    return {
      update(image, line) {
        const text = `${image}: ${line}`
        if (!quiet && text !== last) process.stderr.write(`${text}\n`)
        last = text
      },
      stop() {},
    }
  }
  const {default: ora} = await import('ora')
  const spinner = ora({stream: process.stderr})
  return {
    update(image, line) {
      if (!spinner.isSpinning) spinner.start()
      spinner.text = `${image}: ${line.slice(0, (process.stderr.columns ?? 80) - image.length - 6)}`
    },
    stop() {
      if (spinner.isSpinning) spinner.stop()
    },
  }
}
