import {Box, Text} from 'ink'

import type {InstanceDetail} from '../../core/admin.js'
import {escapeStrings} from '../../core/control-chars.js'
import {confinement} from '../../core/security.js'
import {endpoint, formatBytes, formatPercent, instanceHealth, instanceTone, uptime} from '../../core/format.js'
import {useTone} from './theme.js'

export interface DetailPanelProps {
  detail: InstanceDetail | null
  error: string | null
  /** Credentials were fetched (`c`): show them; masked otherwise. */
  revealed: boolean
  width: number
  /** The highlighted binding: what y copies. */
  selectedBinding?: number
}

const MASK = '••••••••'

/** One labelled line of a detail view, cut at the panel's edge. */
export function Field({name, children}: {name: string; children: React.ReactNode}) {
  return (
    <Text wrap="truncate-end">
      <Text dimColor>{name.padEnd(12)}</Text>
      {children}
    </Text>
  )
}

/** A container's limits and one sample of what it uses: the same two lines for an instance and a deployed container. */
export function LimitsAndUsage({
  limits,
  stats,
}: {
  limits: {memoryLimitBytes: number | null; nanoCpus: number | null}
  stats?: {cpuPercent?: number; memoryBytes?: number} | null
}) {
  return (
    <>
      <Field name="limits">
        memory {formatBytes(limits.memoryLimitBytes)}, cpus {limits.nanoCpus ? limits.nanoCpus / 1e9 : '-'}
      </Field>
      <Field name="usage">
        cpu {formatPercent(stats?.cpuPercent)}, memory {formatBytes(stats?.memoryBytes)}
      </Field>
    </>
  )
}

export function DetailPanel({detail, error, revealed, width, selectedBinding = 0}: DetailPanelProps) {
  const tone = useTone()
  if (error) return <Text color={tone('bad')}>{error}</Text>
  if (!detail) return <Text dimColor>loading…</Text>
  const d = escapeStrings(detail)
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} width={width} flexGrow={1}>
      <Text bold>
        {d.name ?? d.id} <Text dimColor>{d.id}</Text>
      </Text>
      <Field name="service">
        {d.service}/{d.plan}
      </Field>
      <Field name="health">
        <Text color={tone(instanceTone(d))}>{instanceHealth(d)}</Text> (broker state {d.state}, container{' '}
        {d.container?.status ?? 'unknown'}, restarts {d.container?.restartCount ?? '-'}, up {uptime(d)})
      </Field>
      <Field name="endpoint">
        {endpoint(d)} on host {d.hostId}
      </Field>
      <Field name="image">{d.image}</Field>
      <LimitsAndUsage limits={d} stats={d.stats} />
      {d.security ? <Field name="security">{confinement(d.security)}</Field> : null}
      <Field name="volumes">{d.volumes.map((v) => `${v.name}:${v.path}`).join(', ') || '-'}</Field>
      <Field name="parameters">{JSON.stringify(d.parameters)}</Field>
      <Field name="last op">
        {d.lastOperation ? `${d.lastOperation.kind} ${d.lastOperation.state}: ${d.lastOperation.description}` : '-'}
      </Field>
      <Text bold>
        Bindings ({d.bindings.length}){' '}
        <Text dimColor>{revealed ? '— ↑↓ pick, y copies the URI' : '— c reveals credentials, y copies the URI'}</Text>
      </Text>
      {d.bindings.map((b, n) => {
        const c = b.credentials
        return (
          <Text key={b.id} wrap="truncate-end" inverse={n === selectedBinding}>
            {b.id} <Text dimColor>{b.state}</Text>{' '}
            {revealed && c
              ? `${String(c.uri ?? '')}`
              : `user ${revealed && c ? String(c.username) : MASK} password ${MASK}`}
          </Text>
        )
      })}
    </Box>
  )
}
