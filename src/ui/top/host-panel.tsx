import {Box, Text} from 'ink'

import type {HostView, InstanceView} from '../../core/admin.js'
import {escapeStrings} from '../../core/control-chars.js'
import {formatBytes, formatDuration, hostState, instanceHealth, instanceTone} from '../../core/format.js'
import {describeHostRegistry} from '../../core/registries.js'
import {Field} from './detail-panel.js'
import {useClock} from './hosts-panel.js'
import {beatAge, fit} from './model.js'
import {useTone} from './theme.js'

export interface HostPanelProps {
  host: HostView | undefined
  /** The instances placed on it. */
  instances: InstanceView[]
  width: number
  /** Rows the panel may use. */
  height: number
  /** The broker stopped answering (see HostsPanel). */
  stale?: boolean
  beatsAt?: ReadonlyMap<string, number>
}

/** One host: its engine's facts, mirrors and logging driver, how it is reached, and its instances. */
export function HostPanel({host, instances, width, height, stale = false, beatsAt}: HostPanelProps) {
  const tone = useTone()
  const now = useClock(stale)
  if (!host) return <Text color={tone('bad')}>this host is no longer registered (esc goes back)</Text>
  const h = escapeStrings(host)
  const facts = h.facts
  const engine = facts?.engine
  const fields = 11
  const room = Math.max(1, height - fields - 4)
  const shown = instances.slice(0, room)
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold>
        Host {h.id}{' '}
        <Text color={tone(stale ? 'muted' : h.status === 'alive' ? 'good' : 'bad')}>
          {hostState(h)}
          {stale ? '? (the broker does not answer)' : ''}
          {h.drained ? ' · drained' : ''}
        </Text>
      </Text>
      <Field name="heartbeat">{formatDuration(beatAge(h, stale, beatsAt, now))} ago</Field>
      <Field name="reachable">
        {h.reachability
          ? `no (${h.reachability.direction}): ${h.reachability.reason}, for ${formatDuration(Date.now() - h.reachability.since)}`
          : 'both ways'}
      </Field>
      <Field name="engine">
        {facts ? `Docker ${facts.engineVersion}${facts.apiVersion ? ` (API ${facts.apiVersion})` : ''}` : '-'}
        {facts?.os ? `, ${facts.os}` : ''}
        {engine && engine.status !== 'ok' ? (
          <Text color={tone('bad')}>
            {' '}
            · engine {engine.status}
            {engine.error ? `: ${engine.error}` : ''}
          </Text>
        ) : null}
      </Field>
      <Field name="resources">
        {facts ? `${facts.cpus} CPUs, ${formatBytes(facts.memoryBytes)}, ${facts.containersRunning} running` : '-'}
      </Field>
      <Field name="logging">{facts?.loggingDriver ?? '-'}</Field>
      <Field name="mirrors">{facts?.registryMirrors.join(', ') || '-'}</Field>
      <Field name="insecure">{facts?.insecureRegistries.join(', ') || '-'}</Field>
      <Field name="registry">{describeHostRegistry(h.registry)}</Field>
      <Field name="addresses">
        services on {h.serviceAddress}, ports {h.portRange[0]}-{h.portRange[1]}
        {h.agentUrl ? `, agent ${h.agentUrl}` : ', agent in-process'}
      </Field>
      <Field name="zone">{h.zone ?? '-'}</Field>
      <Text bold>
        Instances ({instances.length}) <Text dimColor>— enter lists them, D {h.drained ? 'undrains' : 'drains'}</Text>
      </Text>
      {shown.map((i) => (
        <Text key={i.id} wrap="truncate-end">
          {fit(i.name ?? i.id, 24)} {fit(`${i.service}/${i.plan}`, 20)}{' '}
          <Text color={tone(instanceTone(i))}>{instanceHealth(i)}</Text>
        </Text>
      ))}
      {instances.length > shown.length ? <Text dimColor>… {instances.length - shown.length} more</Text> : null}
    </Box>
  )
}
