import {type ChildProcess, execFile, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {labelled} from '../helpers/docker.js'
import {ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'
import {until} from '../helpers/until.js'

// Another build can stand in, e.g. the image before these fixes, to watch each attack work there.
const IMAGE = process.env.DBROKER_TEST_REDIS_IMAGE ?? 'dbroker/redis:7'
const SERVICE = '6c0e2f4a-1b3d-4e5f-9a7b-00000000b701'
const SHARED = {service_id: SERVICE, plan_id: '6c0e2f4a-1b3d-4e5f-9a7b-00000000b711'}

/** The reference image as a shared plan: one 128 MB container for every instance. */
const catalogYaml = `services:
  - id: ${SERVICE}
    name: redis-under-attack
    description: tenants of one redis container
    bindable: true
    plans:
      - id: ${SHARED.plan_id}
        name: shared
        description: a key prefix per instance in one container
        kind: shared
        container:
          image: ${IMAGE}
          ports: [6379]
          volumes: [/data]
          memory: 128m
          restart: unless-stopped
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          binding_credentials: per-binding
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 30s}
`

type Binding = {username: string; password: string; port: number; key_prefix: string}

const cliArgs = (b: Binding) => ['-h', '127.0.0.1', '-p', String(b.port), '--user', b.username, '--no-auth-warning']
const cliEnv = (b: Binding) => ({...process.env, REDISCLI_AUTH: b.password})

/** What redis-cli answers as a binding (its password in the env), errors included; `input` goes to its stdin. */
async function as(b: Binding, args: string[], input?: string): Promise<string> {
  const child = execFile('redis-cli', [...cliArgs(b), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 1 << 26,
    env: cliEnv(b),
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

/** Redis' protocol for `commands`, for `redis-cli --pipe`. */
const resp = (commands: string[][]) =>
  commands.map((c) => `*${c.length}\r\n${c.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`).join('')

/** Loads `commands` as the binding through `redis-cli --pipe`; its summary line. */
const pipe = (b: Binding, commands: string[][]) => as(b, ['--pipe'], resp(commands))

describe('redis: one tenant of a shared container cannot get it killed', () => {
  let t: TestSystem
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    writeFileSync(path.join(dir, 'catalog.yml'), catalogYaml)
    t = await startTestSystem({catalogFile: path.join(dir, 'catalog.yml'), portRange: [43600, 43619]})
  })
  afterAll(async () => {
    await t?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  async function tenant(): Promise<Binding & {instanceId: string}> {
    const instanceId = testId()
    expect((await t.osb.provision(instanceId, {...SHARED, ...ORG})).status).toBe(201)
    const bound = await t.osb.bind(instanceId, testId('b'), SHARED)
    expect(bound.status, JSON.stringify(bound.body)).toBe(201)
    return {...(bound.body.credentials as Binding), instanceId}
  }
  const container = async () =>
    (await labelled(undefined, t.system.installationId)).containers.find(
      (c) => c.Labels['dbroker.shared'] === 'redis-under-attack-shared',
    )!
  /** When the container last started, its restarts and whether the kernel killed it. */
  const started = (id: string) =>
    execFileSync('docker', ['inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}} {{.State.OOMKilled}}', id], {
      encoding: 'utf8',
    }).trim()

  /** 1000 SADD/RPUSH/XADD-like commands of `per` members each, `prefix` + index as the members. */
  const batches = (command: string, key: string, count: number, member: (i: number) => string[]) =>
    Array.from({length: Math.ceil(count / 1000)}, (_, batch) => [
      command,
      key,
      ...Array.from({length: Math.min(1000, count - batch * 1000)}, (_, i) => member(batch * 1000 + i)).flat(),
    ])

  /**
   * B keeps a key; A (a new instance) makes what `prepare` makes in its own keys and sends `attack`: redis may refuse
   * it or run it, but the container must not be killed (the same start, no restart) and B's key must stay.
   */
  async function survives(prepare: (a: Binding) => Promise<unknown>, attack: (a: Binding) => Promise<string>) {
    const [a, b] = [await tenant(), await tenant()]
    const c = await container()
    expect(await as(b, ['SET', `${b.key_prefix}k`, 'b-value'])).toBe('OK')
    await prepare(a)
    const before = started(c.Id)
    const answer = await attack(a)
    // An OOM kill shows a moment later; the next command answers only after everything sent before.
    expect(await as(b, ['GET', `${b.key_prefix}k`])).toBe('b-value')
    expect(started(c.Id)).toBe(before)
    expect((await t.osb.deprovision(a.instanceId, SHARED)).status).toBe(200)
    return answer
  }

  // SUNION and the other set algebra made the same copy; a shared plan's tenants have them no more (CPU, attack-shared-redis-cpu).
  it("A copies a set as large as it may keep (DUMP serializes it whole): the container's headroom holds the copy", async () => {
    const answer = await survives(
      // 600,000 members of 60 bytes: about 70 MB, past what a tenant may keep (redis refuses the rest).
      (a) =>
        pipe(
          a,
          batches('SADD', `${a.key_prefix}s`, 600_000, (i) => [String(i).padStart(60, 'm')]),
        ),
      (a) => as(a, ['DUMP', `${a.key_prefix}s`]),
    )
    // It ran (the serialization is compressed: its reply may fit a client's output limit, or redis drops A's connection).
    expect(answer).not.toMatch(/NOPERM|OOM/)
  })

  it('A copies a full set, deletes it and at once writes as much again in 8 MB strings: the freed pages are gone', async () => {
    const answer = await survives(
      async (a) => {
        await pipe(
          a,
          batches('SADD', `${a.key_prefix}s`, 600_000, (i) => [String(i).padStart(60, 'm')]),
        )
        // The copy and its reply take the server's resident memory near the limit; redis frees them, and the set.
        await as(a, ['SUNION', `${a.key_prefix}s`, `${a.key_prefix}s`])
        expect(await as(a, ['DEL', `${a.key_prefix}s`])).toBe('1')
      },
      // Within jemalloc's decay time, what redis counts as used is ~1 MB: maxmemory lets 5 of these through.
      (a) =>
        pipe(
          a,
          Array.from({length: 8}, (_, i) => ['SETRANGE', `${a.key_prefix}x${i}`, '8000000', 'x']),
        ),
    )
    // Every command answered: the first ones wrote, the rest past maxmemory were refused.
    expect(answer).toMatch(/errors: \d+, replies: 8/)
  })

  it('A queues 30 SETRANGEs of 8 MB in a MULTI: EXEC is refused', async () => {
    const answer = await survives(
      async () => {},
      (a) =>
        as(
          a,
          [],
          ['MULTI', ...Array.from({length: 30}, (_, i) => `SETRANGE ${a.key_prefix}x${i} 8000000 x`), 'EXEC'].join(
            '\n',
          ),
        ),
    )
    expect(answer).toMatch(/NOPERM/)
  })

  it('A sorts a 4,000,000-element list (SORT_RO builds ~8 times its size): refused', async () => {
    const answer = await survives(
      (a) =>
        pipe(
          a,
          Array.from({length: 4000}, () => [
            'RPUSH',
            `${a.key_prefix}l`,
            ...Array.from({length: 1000}, (_, i) => String(10_001 + i)),
          ]),
        ),
      (a) => as(a, ['SORT_RO', `${a.key_prefix}l`]),
    )
    expect(answer).toMatch(/NOPERM/)
  })

  it('A sends one ZADD of 700,000 members (13 MB of arguments, ~8 times that as a sorted set): its connection goes', async () => {
    const answer = await survives(
      async () => {},
      (a) =>
        pipe(a, [['ZADD', `${a.key_prefix}z`, ...Array.from({length: 700_000}, (_, i) => ['1', String(i)]).flat()]]),
    )
    expect(answer).not.toMatch(/errors: 0, replies: 1/)
  })

  it('A reads a 2,000,000-entry stream through a consumer group (a pending entry per message): refused', async () => {
    const answer = await survives(
      async (a) => {
        await pipe(
          a,
          Array.from({length: 2_000_000}, () => ['XADD', `${a.key_prefix}s`, '*', 'f', 'v']),
        )
        expect(await as(a, ['XGROUP', 'CREATE', `${a.key_prefix}s`, 'g', '0'])).toBe('OK')
      },
      (a) => as(a, ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', `${a.key_prefix}s`, '>']),
    )
    expect(answer).toMatch(/NOPERM/)
  }, 120_000)

  it('A publishes 7 MB to 30 subscribers of its own channel (a copy in each buffer): refused', async () => {
    const subscribers: ChildProcess[] = []
    try {
      const answer = await survives(
        async (a) => {
          let subscribed = 0
          for (let i = 0; i < 30; i++) {
            const s = spawn('redis-cli', [...cliArgs(a), 'SUBSCRIBE', `${a.key_prefix}ch`], {
              env: cliEnv(a),
              stdio: ['ignore', 'pipe', 'pipe'],
            })
            subscribers.push(s)
            // Subscribed, or refused: either way it said so.
            s.stdout!.once('data', () => subscribed++)
          }
          await until('the subscribers to answer', () => subscribed === 30)
        },
        (a) => as(a, ['-x', 'PUBLISH', `${a.key_prefix}ch`], 'x'.repeat(7_000_000)),
      )
      // Refused by its ACL, or before: a tenant's command may carry 1 MB at most (the connection goes).
      expect(answer).toMatch(/NOPERM|Server closed the connection/)
    } finally {
      for (const s of subscribers) s.kill()
    }
  })
})
