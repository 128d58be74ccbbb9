import {z} from 'zod'

import {type ContainerLogging, DEFAULT_ROTATION, ROTATED_DRIVERS} from '../core/logging.js'
import {parseBytes} from './units.js'

/** Docker's log options take strings; YAML's numbers and booleans are written as Docker reads them. */
const flag = z.union([z.boolean(), z.enum(['true', 'false'])]).transform(String)
const text = z.string().min(1)
const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseBytes(value)
  if (parsed === undefined || parsed < 4096)
    ctx.addIssue({code: 'custom', message: `"${value}" is not a size of at least 4k (e.g. 10m)`})
  return String(parsed ?? 0)
})
/** A whole number, also as the string this schema writes: the store keeps parsed catalogs and reads them again. */
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .union([
      z.number(),
      z
        .string()
        .regex(/^-?\d+$/, 'must be a whole number')
        .transform(Number),
    ])
    .pipe(z.number().int().min(min).max(max))
    .transform(String)
const count = integer(1, 100)
const compiles = (re: string) => {
  try {
    return new RegExp(re)
  } catch {
    return undefined
  }
}
const regex = z.string().refine((re) => compiles(re) !== undefined, 'must be a regular expression')
const host = String.raw`(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)`
const hostPort = String.raw`${host}:\d{1,5}`
const address = (pattern: string, example: string) =>
  z.string().regex(new RegExp(`^(?:${pattern})$`), `is not an address like ${example}`)

/** Docker runs a tag as a Go template on the container's whole logger info: `{{.ContainerEnv}}` would copy every secret. */
const TAG_FIELD = /\{\{\s*\.(?:ID|FullID|Name|ImageID|ImageFullID|ImageName|DaemonName)\s*\}\}/g
const tag = text.refine(
  (t) => !t.replace(TAG_FIELD, '').includes('{{'),
  'may use only {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageID}}, {{.ImageFullID}}, {{.ImageName}} and {{.DaemonName}}',
)
/** An env-regex whose meaning JavaScript (the credential check) and Go's RE2 (Docker) agree on: no `\A`, `\z`, `[[:upper:]]`, `(?i)`. */
const envRegex = regex.refine(
  (re) => /^[A-Za-z0-9_^$|()[\]{},.*+?-]*$/.test(re) && !re.includes('(?'),
  'may use only letters, digits, _ and ^ $ | ( ) [ ] { } , . * + ? - (Docker reads \\, (? and [: as Go does)',
)
/** What each container's entries carry besides the message (the same for every driver that sends them on). */
const metadata = {tag, labels: text, 'labels-regex': regex, env: text, 'env-regex': envRegex}
/** Whether a slow destination may block the container's writes; non-blocking drops lines instead. */
const delivery = {mode: z.enum(['blocking', 'non-blocking']), 'max-buffer-size': size}
/** Engine 20.10's dual logging: the local copy `docker logs` reads for drivers that can't be read back. */
const readBack = {
  'cache-disabled': flag,
  'cache-max-size': size,
  'cache-max-file': count,
  'cache-compress': flag,
}
const rotation = {'max-size': size, 'max-file': count, compress: flag}

const options = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).partial()

const drivers = [
  z.strictObject({
    driver: z.literal('json-file'),
    options: options({...rotation, ...metadata, ...delivery}).default({}),
  }),
  z.strictObject({driver: z.literal('local'), options: options({...rotation, ...delivery}).default({})}),
  z.strictObject({
    driver: z.literal('syslog'),
    options: options({
      'syslog-address': address(
        String.raw`(?:udp|tcp|tcp\+tls)://${host}(?::\d{1,5})?|(?:unix|unixgram):///\S+`,
        'udp://10.0.0.5:514, tcp://logs:5514 or unix:///dev/log',
      ),
      'syslog-facility': z.enum([
        'kern',
        'user',
        'mail',
        'daemon',
        'auth',
        'syslog',
        'lpr',
        'news',
        'uucp',
        'cron',
        'authpriv',
        'ftp',
        'local0',
        'local1',
        'local2',
        'local3',
        'local4',
        'local5',
        'local6',
        'local7',
      ]),
      'syslog-format': z.enum(['rfc3164', 'rfc5424', 'rfc5424micro']),
      'syslog-tls-ca-cert': text,
      'syslog-tls-cert': text,
      'syslog-tls-key': text,
      'syslog-tls-skip-verify': flag,
      ...metadata,
      ...delivery,
      ...readBack,
    }).default({}),
  }),
  z.strictObject({
    driver: z.literal('journald'),
    options: options({...metadata, ...delivery, ...readBack}).default({}),
  }),
  z.strictObject({
    driver: z.literal('gelf'),
    options: options({
      'gelf-compression-type': z.enum(['gzip', 'zlib', 'none']),
      'gelf-compression-level': integer(-1, 9),
      'gelf-tcp-max-reconnect': integer(0, 1000),
      'gelf-tcp-reconnect-delay': integer(1, 3600),
      ...metadata,
      ...delivery,
      ...readBack,
    })
      // The engine refuses a gelf container without one.
      .extend({'gelf-address': address(String.raw`(?:udp|tcp)://${hostPort}`, 'udp://10.0.0.5:12201')}),
  }),
  z.strictObject({
    driver: z.literal('fluentd'),
    options: options({
      'fluentd-address': address(
        String.raw`(?:tcp://)?${hostPort}|unix:///\S+`,
        'tcp://10.0.0.5:24224 or unix:///var/run/fluentd.sock',
      ),
      'fluentd-async': flag,
      'fluentd-buffer-limit': integer(1),
      'fluentd-retry-wait': text,
      'fluentd-max-retries': integer(0),
      'fluentd-sub-second-precision': flag,
      ...metadata,
      ...delivery,
      ...readBack,
    }).default({}),
  }),
] as const

/**
 * `logging: {driver, options}` of a catalog plan or a manifest container: one of the drivers dbroker supports, with
 * that driver's options validated; json-file and local get the default size cap unless they name their own.
 */
export const loggingSchema = z.discriminatedUnion('driver', drivers).transform((l): ContainerLogging => ({
  driver: l.driver,
  options: sortedOptions({
    ...(ROTATED_DRIVERS.includes(l.driver) ? DEFAULT_ROTATION : {}),
    ...(l.options as Record<string, string | undefined>),
  }),
}))

function sortedOptions(options: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(options)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  )
}

/** A log option that would copy a credential into every line sent on, by the variable's name: why, else undefined. */
export function leaksCredential(logging: ContainerLogging, secretEnv: string[]): string | undefined {
  const named = logging.options.env?.split(',').map((v) => v.trim()) ?? []
  const pattern = compiles(logging.options['env-regex'] ?? '(?!)')
  const hit = secretEnv.find((name) => named.includes(name) || pattern?.test(name))
  return hit && `would copy ${hit} (a credential) into every log entry: leave it out`
}

/** The drain URLs platforms send an app's logs to (Cloud Foundry's schemes). */
export const isDrainUrl = (uri: string) => /^(?:syslog|syslog-tls|https):\/\/./.test(uri)
export const DRAIN_URL_MESSAGE =
  'a service that requires syslog_drain gives its bindings a drain: use a syslog://, syslog-tls:// or https:// uri'
