import {execFile} from 'node:child_process'

/** The reference redis image as a shared plan `plan` of service `name`: one 128 MB container for every instance. */
export const sharedRedisCatalog = (o: {service: string; plan: string; name: string; image: string}) => `services:
  - id: ${o.service}
    name: ${o.name}
    description: tenants of one redis container
    bindable: true
    plans:
      - id: ${o.plan}
        name: shared
        description: a key prefix per instance in one container
        kind: shared
        container:
          image: ${o.image}
          ports: [6379]
          volumes: [/data]
          memory: 128m
          restart: unless-stopped
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          binding_credentials: per-binding
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 30s}
`

/** What bind answers for an instance of a shared redis container. */
export type RedisTenantBinding = {username: string; password: string; port: number; key_prefix: string}

/** redis-cli's arguments and env for a binding: its password in the env, never argv. */
export const redisCliArgs = (b: RedisTenantBinding) => [
  '-h',
  '127.0.0.1',
  '-p',
  String(b.port),
  '--user',
  b.username,
  '--no-auth-warning',
]
export const redisCliEnv = (b: RedisTenantBinding) => ({...process.env, REDISCLI_AUTH: b.password})

/** What redis-cli answers as a binding, errors included; `input` goes to its stdin. */
export async function redisAs(b: RedisTenantBinding, args: string[], input?: string): Promise<string> {
  const child = execFile('redis-cli', [...redisCliArgs(b), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 1 << 26,
    env: redisCliEnv(b),
  })
  const done = new Promise<string>((resolve) => {
    let out = ''
    child.stdout!.on('data', (chunk: string) => (out += chunk))
    child.stderr!.on('data', (chunk: string) => (out += chunk))
    child.on('close', () => resolve(out.trim()))
  })
  // redis-cli may exit before it reads all of it (the server closed the connection): its output says so.
  child.stdin!.on('error', () => {})
  child.stdin!.end(input ?? '')
  return done
}

/** Redis' protocol for `commands`. */
export const redisProtocol = (commands: string[][]) =>
  commands.map((c) => `*${c.length}\r\n${c.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`).join('')

/** Loads `commands` as the binding through `redis-cli --pipe`; its summary line. */
export const redisPipe = (b: RedisTenantBinding, commands: string[][]) =>
  redisAs(b, ['--pipe'], redisProtocol(commands))
