import {useState} from 'react'

import {runFullScreen} from '../fullscreen.js'
import type {TopClient} from './client.js'
import type {ContextChoice} from './contexts-panel.js'
import {TopScreen} from './screen.js'

/** One broker as the screen shows it: the context switch replaces the whole session. */
export interface TopSession {
  client: TopClient
  target: string
  context?: string
  onDrain?: (host: string, drained: boolean) => Promise<unknown>
}

export interface TopOptions extends TopSession {
  readonly: boolean
  color: boolean
  statsIntervalMs: number
  /** Clicks select rows and the wheel scrolls (the terminal's own selection then needs shift). */
  mouse?: boolean
  contexts?: ContextChoice[]
  /** A session for another context, once its broker accepted the credentials; throws the reason otherwise. */
  openContext?: (name: string) => Promise<TopSession>
}

export function TopApp({options}: {options: TopOptions}) {
  const [session, setSession] = useState<TopSession>(options)
  const {openContext} = options
  return (
    <TopScreen
      // A new context is a new screen: its state, streams and caches start over.
      key={session.context ?? session.target}
      client={session.client}
      target={session.target}
      context={session.context}
      onDrain={session.onDrain}
      readonly={options.readonly}
      color={options.color}
      statsIntervalMs={options.statsIntervalMs}
      contexts={options.contexts}
      onSwitchContext={openContext ? async (name) => setSession(await openContext(name)) : undefined}
    />
  )
}

/** Draws `dbroker top` full screen until the user quits. */
export async function runTop(options: TopOptions): Promise<void> {
  await runFullScreen(<TopApp options={options} />, {mouse: options.mouse ?? true})
}
