import {Box, Text} from 'ink'

import {escapeControls} from '../../core/control-chars.js'
import {fit} from './model.js'

export interface ContextChoice {
  name: string
  url: string
}

/** The CLI's contexts, as k9s's `:ctx` lists them: enter shows that broker in this screen. */
export function ContextsPanel({
  contexts,
  current,
  selected,
  width,
}: {
  contexts: ContextChoice[]
  /** Index of the context this screen shows. */
  current: number
  selected: number
  width: number
}) {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold wrap="truncate-end">
        Contexts ({contexts.length}){' '}
        <Text dimColor>enter switches this screen; `dbroker context use` stays as it is</Text>
      </Text>
      {contexts.map((c, n) => (
        <Text key={c.name} inverse={n === selected} wrap="truncate-end">
          {n === current ? '* ' : '  '}
          {fit(c.name, 20)} {escapeControls(c.url)}
        </Text>
      ))}
    </Box>
  )
}
