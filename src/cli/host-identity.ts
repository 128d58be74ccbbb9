import {chmodSync, writeFileSync} from 'node:fs'

import type {BrokerClient} from '../client/broker-client.js'
import type {HostView} from '../core/admin.js'
import {DbrokerError} from '../core/errors.js'
import {formatDuration} from '../core/format.js'
import type {HostEnrollment, PendingHostChange} from '../core/host-identity.js'

/** A registered host, with whether it has its own token (null: the broker runs its agent in-process) and the address change it waits on. */
export interface HostListing extends HostView {
  enrolled: boolean | null
  pending: PendingHostChange | null
}

/** One admin call; the broker's description on failure, with a hint for the usual mistakes. */
async function admin<T>(
  client: BrokerClient,
  method: string,
  path: string,
  query?: Record<string, string | undefined>,
): Promise<T> {
  return answer<T>(await client.fetch(method, path, {admin: true, query}))
}

async function answer<T>(response: Response): Promise<T> {
  const text = await response.text()
  const body = (text ? JSON.parse(text) : {}) as T & {description?: string}
  if (response.status === 401)
    throw new DbrokerError('the broker refused the admin credentials', 'check them with `dbroker context list`')
  if (!response.ok)
    throw new DbrokerError(
      body.description ?? `the broker answered ${response.status}`,
      response.status === 404 ? 'list the hosts with `dbroker hosts`' : undefined,
    )
  return body
}

const hostPath = (id: string, rest: string) => `/admin/v1/hosts/${encodeURIComponent(id)}/${rest}`

/** Drains or undrains one host through the admin API; the broker's description on failure. */
export function setDrained(
  client: BrokerClient,
  host: string,
  drained: boolean,
): Promise<{id: string; drained: boolean}> {
  return admin(client, 'POST', hostPath(host, drained ? 'drain' : 'undrain'))
}

/** The registered hosts with their identity, and the enrolled hosts that have not registered yet. */
export async function listHosts(client: BrokerClient): Promise<{hosts: HostListing[]; waiting: HostEnrollment[]}> {
  const enrollments = async () => {
    const response = await client.fetch('GET', '/admin/v1/enrollments', {admin: true})
    return response.status === 404 ? undefined : answer<HostEnrollment[]>(response)
  }
  const [hosts, enrolled] = await Promise.all([client.hosts(), enrollments()])
  if (!enrolled) return {hosts: hosts.map((h) => ({...h, enrolled: null, pending: null})), waiting: []}
  const byId = new Map(enrolled.map((e) => [e.hostId, e]))
  return {
    // A host without an agent URL is the broker's own in-process agent (`dbroker up`): it needs no token.
    hosts: hosts.map((h) => ({
      ...h,
      enrolled: h.agentUrl === null ? null : byId.has(h.id),
      pending: byId.get(h.id)?.pending ?? null,
    })),
    waiting: enrolled.filter((e) => !hosts.some((h) => h.id === e.hostId)),
  }
}

/** Lines under the hosts table: what waits for the operator. */
export function identityNotes(listing: {hosts: HostListing[]; waiting: HostEnrollment[]}, now = Date.now()): string[] {
  const notes: string[] = []
  for (const host of listing.hosts) {
    if (host.enrolled === false)
      notes.push(
        `${host.id}: has no token of its own, so its agent is refused; enroll it with \`dbroker hosts add ${host.id}\``,
      )
    const change = host.pending
    if (!change) continue
    const asked = [
      host.agentUrl !== change.agentUrl ? `agent URL ${host.agentUrl ?? '(none)'} -> ${change.agentUrl}` : undefined,
      host.serviceAddress !== change.serviceAddress
        ? `service address ${host.serviceAddress} -> ${change.serviceAddress}`
        : undefined,
    ].filter((a) => a !== undefined)
    notes.push(
      `${host.id}: PENDING ${asked.join(', ') || `bind address -> ${change.bindAddress}`} (asked ${formatDuration(now - change.requestedAt)} ago); apply with \`dbroker hosts approve ${host.id}\``,
    )
  }
  for (const e of listing.waiting)
    notes.push(`${e.hostId}: enrolled ${formatDuration(now - e.enrolledAt)} ago, not registered yet`)
  return notes
}

/**
 * Enrolls a host (or gives it a new token with `rotate`). The token is
 * answered once: written to `tokenFile` (0600) when given, so it never
 * reaches a terminal or a shell history.
 */
export async function enrollHost(
  client: BrokerClient,
  id: string,
  options: {rotate: boolean; tokenFile?: string},
): Promise<{id: string; token?: string; tokenFile?: string}> {
  const {token} = await admin<{id: string; token: string}>(client, 'POST', hostPath(id, 'enroll'), {
    rotate: options.rotate ? 'true' : undefined,
  })
  if (!options.tokenFile) return {id, token}
  try {
    writeFileSync(options.tokenFile, token + '\n', {mode: 0o600})
    chmodSync(options.tokenFile, 0o600)
  } catch (error) {
    throw new DbrokerError(
      `host ${id} is enrolled, but its token could not be written to ${options.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      `make a new one with \`dbroker hosts add ${id} --rotate\``,
    )
  }
  return {id, tokenFile: options.tokenFile}
}

export function approveHost(client: BrokerClient, id: string): Promise<PendingHostChange & {id: string}> {
  return admin(client, 'POST', hostPath(id, 'approve'))
}

export function revokeHost(client: BrokerClient, id: string): Promise<{id: string; revoked: boolean}> {
  return admin(client, 'DELETE', hostPath(id, 'enrollment'))
}
