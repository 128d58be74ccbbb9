import type {BrokerClient} from '../../client/broker-client.js'
import type {HostRegistryView} from '../../core/admin.js'
import {UsageError} from '../../core/errors.js'
import {EVERY_HOST, registryKey, type RegistrySettings, registrySettings} from '../../core/registries.js'
import {type Column, renderTable} from '../table.js'

export interface HostRegistryRow extends HostRegistryView {
  host: string
}

/** The settings a `hosts registry` asked for, checked here first so a mistake names its flag. */
export function registryRequest(flags: {mirror?: string[]; insecure?: string[]; clear?: boolean}): RegistrySettings {
  const settings = {mirrors: flags.mirror ?? [], insecure: flags.insecure ?? []}
  if (flags.clear && (settings.mirrors.length > 0 || settings.insecure.length > 0))
    throw new UsageError('--clear takes away every mirror and insecure registry: give it without --mirror/--insecure')
  const checked = registrySettings.safeParse(settings)
  if (!checked.success)
    throw new UsageError(
      checked.error.issues
        .map((issue) => {
          const [field, index] = issue.path as [keyof RegistrySettings, number | undefined]
          const flag = field === 'mirrors' ? '--mirror' : '--insecure'
          return index === undefined
            ? `${flag}: ${issue.message}`
            : `${flag} ${JSON.stringify(settings[field][index])}: ${issue.message}`
        })
        .join('; '),
      'the HOST goes before the flags: --mirror and --insecure take every value after them',
    )
  return checked.data
}

/** Records the settings for one host or, with `*`, for every host; answers what each host now shows. */
export async function setHostRegistry(
  client: BrokerClient,
  host: string,
  settings: RegistrySettings,
): Promise<HostRegistryRow[]> {
  await client.setHostRegistry(host, settings)
  return hostRegistries(client, host === EVERY_HOST ? undefined : host)
}

/** Desired against in force, per host (or for one). */
export async function hostRegistries(client: BrokerClient, host?: string): Promise<HostRegistryRow[]> {
  const hosts = await client.hosts()
  if (host && !hosts.some((h) => h.id === host))
    throw new UsageError(`host ${host} is not registered; the hosts are ${hosts.map((h) => h.id).join(', ') || 'none'}`)
  return hosts
    .filter((h) => !host || h.id === host)
    .map((h) => ({
      host: h.id,
      ...(h.registry ?? {desired: null, actual: null, state: 'unknown', why: 'the broker predates registry settings'}),
    }))
}

const list = (values: string[] | undefined) => (values && values.length > 0 ? values.join(',') : '-')

export function hostRegistryTable(rows: HostRegistryRow[], options: {color?: boolean} = {}): string {
  const columns: Array<Column<HostRegistryRow>> = [
    {header: 'host', value: (r) => r.host},
    {header: 'desired mirrors', value: (r) => (r.desired ? list(r.desired.mirrors) : '(not set)')},
    {header: 'desired insecure', value: (r) => (r.desired ? list(r.desired.insecure) : '(not set)')},
    {header: 'engine mirrors', value: (r) => list(r.actual?.mirrors)},
    {header: 'engine insecure', value: (r) => list(r.actual?.insecure)},
    {
      header: 'state',
      value: (r) => r.state,
      tone: (r) => (r.state === 'in force' ? 'good' : r.state === 'not applied' ? 'bad' : undefined),
    },
    {header: 'why', value: (r) => r.why ?? '-'},
  ]
  return renderTable(rows, columns, options)
}

/** A password piped in (`--password-stdin`), without its final line break; never from a terminal prompt or argv. */
export async function readPasswordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY)
    throw new UsageError(
      '--password-stdin reads the password from a pipe',
      'printf %s "$PASSWORD" | dbroker registry login ...',
    )
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer))
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
  if (!password) throw new UsageError('--password-stdin read no password from stdin')
  return password
}

/** `dbroker registry login URL`: the URL as the registry key the broker stores (host[:port]). */
export function registryArgument(given: string): string {
  try {
    return registryKey(given)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}
