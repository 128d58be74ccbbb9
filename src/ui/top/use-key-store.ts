import {useStdin} from 'ink'
import {useCallback, useEffect, useRef, useState} from 'react'

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
  // The raw input events, not useInput's (input, key): useInput drops the ESC in front of a key typed right after
  // it (`\x1b\t` reaches it as a bare tab, `\x1be` as Alt+e), and top needs that ESC (see keyNames).
  const {setRawMode, internal_eventEmitter: input} = useStdin()
  useEffect(() => {
    setRawMode(true)
    return () => setRawMode(false)
  }, [setRawMode])
  const onInput = useCallback((raw: string) => {
    const result = pressKeys(ref.current, latest.current.env(), keyNames(raw))
    if (result.state !== ref.current) {
      ref.current = result.state
      setState(result.state)
    }
    for (const effect of result.effects) latest.current.onEffect(effect, result.state)
  }, [])
  useEffect(() => {
    input.on('input', onInput)
    return () => {
      input.off('input', onInput)
    }
  }, [input, onInput])
  return {state, send}
}
