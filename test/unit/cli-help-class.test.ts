import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {Config} from '@oclif/core'
import {describe, expect, it} from 'vitest'

import DbrokerHelp from '../../src/cli/help-class.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

describe("dbroker's help class", () => {
  it('renders EJS templates as oclif does, and hands back text without one as it is', async () => {
    const config = await Config.load(root)
    const help = new DbrokerHelp(config) as unknown as {render: (text: string) => string}
    expect(help.render('<%= config.bin %> top --readonly')).toBe('dbroker top --readonly')
    // EJS would read `<%` as a template and `%>` alone is text to it too: only `<%` goes through EJS.
    expect(help.render('100% of the rows, a -> b')).toBe('100% of the rows, a -> b')
    expect(help.render('')).toBe('')
  })

  it('is the one oclif loads for --help and `dbroker help`', async () => {
    const {loadHelpClass} = await import('@oclif/core')
    const config = await Config.load(root)
    const loaded = await loadHelpClass(config)
    expect(loaded.name).toBe('DbrokerHelp')
  })
})
