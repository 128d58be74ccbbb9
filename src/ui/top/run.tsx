import {runFullScreen} from '../fullscreen.js'
import type {TopClient} from './client.js'
import {TopScreen} from './screen.js'

/** Draws `dbroker top` full screen until the user quits. */
export async function runTop(options: {
  client: TopClient
  target: string
  readonly: boolean
  color: boolean
  statsIntervalMs: number
  onDrain?: (host: string, drained: boolean) => Promise<unknown>
}): Promise<void> {
  await runFullScreen(
    <TopScreen
      client={options.client}
      target={options.target}
      readonly={options.readonly}
      color={options.color}
      statsIntervalMs={options.statsIntervalMs}
      onDrain={options.onDrain}
    />,
  )
}
