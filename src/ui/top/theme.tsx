import {createContext, useContext} from 'react'

import type {Tone} from '../../core/format.js'

/** Colours on or off for the whole screen (off with NO_COLOR). */
export const ColorContext = createContext(true)

const COLORS: Record<Tone, string> = {good: 'green', warn: 'yellow', bad: 'red', muted: 'gray'}

export function useTone(): (tone: Tone | undefined) => string | undefined {
  const enabled = useContext(ColorContext)
  return (tone) => (enabled && tone ? COLORS[tone] : undefined)
}
