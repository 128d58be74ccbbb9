import {useState} from 'react'

import {releaseTerminalInput, runFullScreen} from '../fullscreen.js'
import type {TopClient} from './client.js'
import type {ContextChoice} from './contexts-panel.js'
import {TopScreen} from './screen.js'
import type {TopState} from './state.js'
import type {FirstLook} from './use-top-data.js'

/** One broker as the screen shows it: the context switch replaces the whole session. */
export interface TopSession {
  client: TopClient
  target: string
  context?: string
  onDrain?: (host: string, drained: boolean) => Promise<unknown>
  /** `x`: the service's own client on this terminal with a temporary binding; resolves once it exited and unbound. */
  connect?: (instanceId: string) => Promise<void>
}

export interface TopOptions extends TopSession {
  /** What the command fetched of this session's broker while the screen's code loaded: drawn in the first frame. */
  first?: FirstLook
  readonly: boolean
  color: boolean
  statsIntervalMs: number
  /** Clicks select rows and the wheel scrolls (the terminal's own selection then needs shift). */
  mouse?: boolean
  /** Read each time `:` opens the list. */
  contexts?: () => ContextChoice[]
  /** A session for another context, once its broker accepted the credentials; throws the reason otherwise. */
  openContext?: (name: string) => Promise<TopSession>
}

/** What the screen left to do off screen: a client session, and where to come back to. */
interface Away {
  instanceId: string
  state: TopState
  session: TopSession
}

export function TopApp({
  options,
  resume,
  onAway,
}: {
  options: TopOptions
  resume?: {state: TopState; session: TopSession}
  onAway?: (away: Away) => void
}) {
  const [session, setSession] = useState<TopSession>(resume?.session ?? options)
  const {openContext} = options
  return (
    <TopScreen
      // A new context is a new screen: its state, streams and caches start over.
      key={session.context ?? session.target}
      client={session.client}
      target={session.target}
      context={session.context}
      onDrain={session.onDrain}
      initialState={resume?.state}
      // Only the very first screen: one coming back from a client, or another context's, fetches anew.
      initialData={!resume && session === options ? options.first : undefined}
      onConnect={session.connect && onAway ? (instanceId, state) => onAway({instanceId, state, session}) : undefined}
      readonly={options.readonly}
      color={options.color}
      statsIntervalMs={options.statsIntervalMs}
      contexts={options.contexts}
      onSwitchContext={openContext ? async (name) => setSession(await openContext(name)) : undefined}
    />
  )
}

/**
 * Draws `dbroker top` full screen until the user quits. `x` leaves the screen for
 * the service's client on the same terminal and comes back to where it was once
 * the client exits (its outcome in the footer).
 */
export async function runTop(options: TopOptions): Promise<void> {
  let resume: {state: TopState; session: TopSession} | undefined
  for (;;) {
    let away: Away | undefined
    await runFullScreen(<TopApp options={options} resume={resume} onAway={(a) => (away = a)} />, {
      mouse: options.mouse ?? true,
    })
    // The screen set it before it exited: TypeScript can't see through the callback.
    const left = away as Away | undefined
    if (!left) return
    let message: string
    const reclaim = releaseTerminalInput()
    try {
      await left.session.connect!(left.instanceId)
      message = 'back from the client: its temporary binding is gone'
    } catch (error) {
      message = `connect failed: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      reclaim()
    }
    resume = {state: {...left.state, message}, session: left.session}
  }
}
