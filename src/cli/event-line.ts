import type {ChangeEvent} from '../core/admin.js'
import {escapeControls} from '../core/control-chars.js'

/** As docker shows ids: a uuid by its first 8 characters (`dbroker show` takes the prefix). */
export const shortIds = (text: string) =>
  text.replace(/([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '$1')

/** Instance names by id: what an event line says instead of the id. */
export type NameOf = (id: string) => string | null | undefined

/**
 * One change as a line: time, kind, subject, action, new state, and the description when
 * there is one. The subject is the instance's name where it has one (a binding or an
 * operation says which instance it is of), else the short id; hosts are named by their id.
 */
export function eventLine(
  event: ChangeEvent,
  nameOf: NameOf = () => undefined,
  clock: 'date' | 'time' = 'date',
): string {
  const iso = new Date(event.at).toISOString()
  const time = clock === 'date' ? iso.replace('T', ' ').slice(0, 19) : iso.slice(11, 19)
  const label = (id: string) => nameOf(id) ?? shortIds(id)
  const subject =
    event.instanceId && event.instanceId !== event.id
      ? `${shortIds(event.id)} (of ${label(event.instanceId)})`
      : event.kind === 'instance'
        ? label(event.id)
        : shortIds(event.id)
  const state = event.state ? ` -> ${event.state}` : ''
  const description = event.description ? `: ${event.description}` : ''
  return escapeControls(`${time} ${event.kind.padEnd(9)} ${subject} ${event.action}${state}${description}`)
}
