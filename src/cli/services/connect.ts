import {type ChildProcess, spawn} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import path from 'node:path'

import type {InstanceDetail} from '../../core/admin.js'
import {DbrokerError, errorMessage} from '../../core/errors.js'
import {bindService} from './bind.js'
import type {CliBroker, Progress} from './broker.js'
import {keyPrefixNote} from './credentials.js'
import {labelOf, settledInstance} from './instances.js'

/** The clients `dbroker connect` knows how to start: a plan's `client:` in the catalog names one. */
export type ServiceClient = 'redis-cli' | 'psql' | 'mariadb'

interface Endpoint {
  host: string
  port: string
  username: string
  database?: string
}

/** How each client is told where and as whom; the password goes in `passwordEnv`, never in the arguments. */
const CLIENTS: Record<ServiceClient, {passwordEnv: string; args: (e: Endpoint) => string[]; install: string}> = {
  'redis-cli': {
    passwordEnv: 'REDISCLI_AUTH',
    args: (e) => ['-h', e.host, '-p', e.port, '--user', e.username],
    install: 'apt-get install redis-tools',
  },
  psql: {
    passwordEnv: 'PGPASSWORD',
    args: (e) => ['-h', e.host, '-p', e.port, '-U', e.username, ...(e.database ? ['-d', e.database] : [])],
    install: 'apt-get install postgresql-client',
  },
  mariadb: {
    passwordEnv: 'MYSQL_PWD',
    args: (e) => ['-h', e.host, '-P', e.port, '--protocol=TCP', '-u', e.username, ...(e.database ? [e.database] : [])],
    install: 'apt-get install mariadb-client',
  },
}

export interface ClientCommand {
  program: ServiceClient
  args: string[]
  /** Only the password variable; the caller adds it to its own environment. */
  env: Record<string, string>
}

/** The client an instance's plan names, or an error that says the plan names none. */
export function clientOf(instance: Pick<InstanceDetail, 'client' | 'service' | 'plan'>): ServiceClient {
  if (instance.client === undefined)
    throw new DbrokerError(
      'this broker does not say which client its plans use (it is older than `dbroker connect`)',
      'bind and use the credentials yourself: `dbroker bind NAME --format env`',
    )
  if (!instance.client || !(instance.client in CLIENTS))
    throw new DbrokerError(
      `plan ${instance.plan} of ${instance.service} names no client to connect with${instance.client ? ` that dbroker knows (${instance.client})` : ''}`,
      `give the plan \`client: ${Object.keys(CLIENTS).join(' | ')}\` in the catalog, or bind and use the credentials yourself: \`dbroker bind NAME --format env\``,
    )
  return instance.client as ServiceClient
}

/** The command that starts `program` against a binding's credentials. */
export function clientCommand(program: ServiceClient, credentials: Record<string, unknown>): ClientCommand {
  const {host, port, username, password, database} = credentials
  if (typeof host !== 'string' || port === undefined || typeof username !== 'string' || typeof password !== 'string')
    throw new DbrokerError('the binding has no host, port, username and password to connect with')
  const endpoint = {host, port: String(port), username, database: typeof database === 'string' ? database : undefined}
  return {program, args: CLIENTS[program].args(endpoint), env: {[CLIENTS[program].passwordEnv]: password}}
}

const shellQuote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`)

/**
 * `connect --print`: a shell line that binds (reusing your binding, for an
 * hour) and starts the client, with the password as `$CONNECT_PASSWORD`, never
 * the secret itself. It makes no binding now.
 */
export function printedCommand(
  instance: Pick<InstanceDetail, 'id' | 'name' | 'client' | 'service' | 'plan' | 'kind'>,
  options: {bin?: string; context?: string} = {},
): string {
  const program = clientOf(instance)
  const ref = (name: string) => `"$CONNECT_${name}"`
  // A shared plan's binding is confined to its instance's keys: say the prefix (bind --format env gives it) first.
  const note =
    instance.kind === 'shared' && program === 'redis-cli'
      ? `{ [ -z "$CONNECT_KEY_PREFIX" ] || echo "keys must start with $CONNECT_KEY_PREFIX (the binding's ACL allows only ~$CONNECT_KEY_PREFIX*)" >&2; } && `
      : ''
  const bind = [
    options.bin ?? 'dbroker',
    'bind',
    shellQuote(instance.name ?? instance.id),
    ...(options.context ? ['--context', shellQuote(options.context)] : []),
    '--reuse --ttl 1h --format env --prefix CONNECT',
  ].join(' ')
  const endpoint = {
    host: ref('HOST'),
    port: ref('PORT'),
    username: ref('USERNAME'),
    database: program === 'redis-cli' ? undefined : ref('DATABASE'),
  }
  return `eval "$(${bind})" && ${note}${CLIENTS[program].passwordEnv}=${ref('PASSWORD')} ${program} ${CLIENTS[program].args(endpoint).join(' ')}`
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir || '.', program), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

export interface ConnectOptions {
  progress?: Progress
  /** A safety net: if this process is killed outright, the broker still unbinds after this long. */
  ttlSeconds?: number
  /** Starts the client; by default on this terminal (inherited stdio). */
  start?: (command: ClientCommand) => ChildProcess
}

export interface ConnectResult {
  instance: string
  client: ServiceClient
  binding: string
  /** The client's exit code; 128 + n when a signal ended it. */
  exitCode: number
  unbound: boolean
  /** The terminal closed (SIGHUP): say nothing more on it. */
  hungUp: boolean
}

/** A client killed by a signal exits 128 + its number, as a shell reports it. */
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = {SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15}

/** Twelve hours: a forgotten session outlives a working day, not the week. */
export const CONNECT_TTL_SECONDS = 12 * 3600

/**
 * `dbroker connect` (and `top`'s `x`): binds to the instance for this session
 * only, runs the service's own client with the password in its environment,
 * and unbinds once the client exits — also when this process gets SIGINT,
 * SIGTERM or SIGHUP (the terminal closed): the signal is passed on to the
 * client, and the unbind waits for it to end. Resolves once unbound.
 */
export async function connectInstance(
  client: CliBroker,
  ref: InstanceDetail,
  options: ConnectOptions = {},
): Promise<ConnectResult> {
  let hungUp = false
  const progress = (line: string) => {
    if (!hungUp) options.progress?.(line)
  }
  const program = clientOf(ref)
  if (!options.start && !onPath(program))
    throw new DbrokerError(`${program} is not installed (not on PATH)`, CLIENTS[program].install)
  const instance = await settledInstance(client, ref, {progress})
  let child: ChildProcess | undefined
  let stopped: NodeJS.Signals | undefined
  const pass = (signal: NodeJS.Signals) => {
    if (signal === 'SIGHUP') hungUp = true
    stopped ??= signal
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
  // Held from before the bind: a signal while binding stops the session before the client starts, and still unbinds.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const signal of signals) process.on(signal, pass)
  // After SIGHUP the terminal is gone: writing to it must not crash the process before it unbinds.
  const ignore = () => {}
  process.stdout.on('error', ignore)
  process.stderr.on('error', ignore)
  const release = () => {
    for (const signal of signals) process.off(signal, pass)
    // A hung-up terminal stays unwritable: what the caller still says must not crash either.
    if (hungUp) return
    process.stdout.off('error', ignore)
    process.stderr.off('error', ignore)
  }
  let bound
  try {
    bound = await bindService(client, instance.id, {ttlSeconds: options.ttlSeconds ?? CONNECT_TTL_SECONDS})
  } catch (error) {
    release()
    throw error
  }
  let exitCode = 128 + (SIGNAL_NUMBERS[stopped!] ?? 0)
  let failure: unknown
  if (!stopped) {
    progress(
      `connecting to ${labelOf(instance)} with ${program} as ${String(bound.credentials.username)} (a binding for this session: ${bound.binding.id})`,
    )
    const keys = keyPrefixNote(bound.credentials)
    if (keys) progress(keys)
    try {
      child = (options.start ?? startOnTerminal)(clientCommand(program, bound.credentials))
      exitCode = await new Promise<number>((resolve, reject) => {
        child!.once('error', reject)
        child!.once('exit', (code, signal) => resolve(code ?? 128 + (SIGNAL_NUMBERS[signal!] ?? 0)))
      })
    } catch (error) {
      failure = error
    }
  }
  let unbound = false
  try {
    progress(`unbinding ${bound.binding.id}`)
    await client.unbind(instance.id, bound.binding.id, {serviceId: instance.serviceId, planId: instance.planId})
    unbound = true
  } catch (error) {
    failure ??= new DbrokerError(
      `the session's binding ${bound.binding.id} of ${labelOf(instance)} is still there: ${errorMessage(error)}`,
      `the broker removes it by ${new Date(bound.binding.expiresAt!).toISOString()}; or now: \`dbroker unbind ${instance.id} ${bound.binding.id}\``,
    )
  } finally {
    release()
  }
  if (failure) {
    if ((failure as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DbrokerError(`${program} is not installed (not on PATH)`, CLIENTS[program].install)
    throw failure
  }
  return {instance: instance.id, client: program, binding: bound.binding.id, exitCode, unbound, hungUp}
}

function startOnTerminal(command: ClientCommand): ChildProcess {
  return spawn(command.program, command.args, {stdio: 'inherit', env: {...process.env, ...command.env}})
}
