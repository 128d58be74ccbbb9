import {Box, Text} from 'ink'

import {escapeStrings} from '../../core/control-chars.js'
import type {DeployedContainerDetail} from '../../core/deployments.js'
import {formatBytes, instanceHealth, instanceTone, uptime} from '../../core/format.js'
import {Field, LimitsAndUsage} from './detail-panel.js'
import {lastExit} from './instances-panel.js'
import {useTone} from './theme.js'

/** The detail of a manifest's container: what its deployment asked for and how it runs; it has no bindings. */
export function DeployedPanel({detail, width}: {detail: DeployedContainerDetail; width: number}) {
  const tone = useTone()
  const d = escapeStrings(detail)
  const c = d.container
  const storage = [
    ...d.volumes.map((v) => `${v.name}:${v.path}`),
    ...d.binds.map((b) => `${b.source}:${b.path}${b.readOnly ? ':ro' : ''}`),
  ]
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold>
        {d.deployment}/{d.name ?? d.id} <Text dimColor>{d.id}</Text>
      </Text>
      <Field name="deployment">
        {d.deployment} <Text dimColor>(deploy state {d.deployState}; its manifest changes it: dbroker deploy)</Text>
      </Field>
      {d.error ? (
        <Field name="error">
          <Text color={tone('bad')}>{d.error}</Text>
        </Field>
      ) : null}
      <Field name="health">
        <Text color={tone(instanceTone(d))}>{instanceHealth(d)}</Text> (container {c?.status ?? 'unknown'}, health{' '}
        {c?.health ?? '-'}, restarts {c?.restartCount ?? '-'}, last exit {lastExit(d)}, up {uptime(d)})
      </Field>
      <Field name="host">{d.hostId}</Field>
      <Field name="container">{d.containerName}</Field>
      <Field name="image">{d.image}</Field>
      <Field name="ports">
        {d.ports.map((p) => `${d.address}:${p.host}→${p.container}/${p.protocol}`).join(', ') || '-'}
      </Field>
      <Field name="depends on">{d.dependsOn.join(', ') || '-'}</Field>
      <Field name="network">{d.network ? `${d.network.name} as ${d.network.aliases.join(', ') || '-'}` : '-'}</Field>
      <Field name="restart">{d.restart}</Field>
      <LimitsAndUsage limits={d} stats={d.stats} />
      <Field name="volumes">{storage.join(', ') || '-'}</Field>
      <Field name="disk">{d.disk ? `${formatBytes(d.disk.sizeBytes)} at ${d.disk.path}` : '-'}</Field>
      <Text dimColor wrap="truncate-end">
        No bindings: no credentials to show or copy, no client to connect with.
      </Text>
    </Box>
  )
}
