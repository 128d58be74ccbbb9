import {type Key, useInput} from 'ink'
import {useCallback, useRef, useState} from 'react'

import {type KeyEffect, type KeyEnv, keyNames, pressKeys} from './keys.js'
import {type TopEvent, topReducer, type TopState} from './state.js'

/**
 * The screen's state behind the reducer, kept in a ref as well so that keys
 * arriving before the next render (fast typing) each see the state the one
 * before left, not the last rendered one.
 */
export function useKeyStore(
  initial: TopState,
  env: () => KeyEnv,
  /** `state`: the state after the key, which the last render may not show yet (keys typed fast). */
  onEffect: (effect: KeyEffect, state: TopState) => void,
): {state: TopState; send: (event: TopEvent) => void} {
  const [state, setState] = useState(initial)
  const ref = useRef(state)
  const latest = useRef({env, onEffect})
  latest.current = {env, onEffect}
  const send = useCallback((event: TopEvent) => {
    const next = topReducer(ref.current, event)
    if (next === ref.current) return
    ref.current = next
    setState(next)
  }, [])
  useInput(
    useCallback((input: string, key: Key) => {
      const result = pressKeys(ref.current, latest.current.env(), keyNames(input, key))
      if (result.state !== ref.current) {
        ref.current = result.state
        setState(result.state)
      }
      for (const effect of result.effects) latest.current.onEffect(effect, result.state)
    }, []),
  )
  return {state, send}
}
