import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createInterface} from 'node:readline'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {RUN} from '../helpers/cli.js'
import {removeLabelled} from '../helpers/docker.js'
import {type OperatorSandbox, startSandbox} from '../helpers/operator.js'

const port = 42150 + Math.floor(Math.random() * 40)

interface Credentials {
  host: string
  port: number
  username: string
  password: string
}

describe('sessions against a real dbroker up: update, events, bind --ttl/--reuse, connect', () => {
  let box: OperatorSandbox
  // The last story stops the broker: what it made is removed by id then.
  const made: string[] = []
  const json = async (args: string[]) => {
    const r = await box.cli([...args, '--json'])
    return {code: r.code, envelope: JSON.parse(r.stdout), stderr: r.stderr}
  }
  const bindingIds = async () =>
    ((await json(['bindings', 'cache'])).envelope.result as Array<{id: string}>).map((b) => b.id)
  /** redis-cli as the binding's user, password through the environment. */
  const redis = (c: Credentials, ...command: string[]) =>
    box.sh(
      `REDISCLI_AUTH='${c.password}' redis-cli -h ${c.host} -p ${c.port} --user ${c.username} ${command.join(' ')}`,
    )

  beforeAll(async () => {
    box = await startSandbox({port, portRange: [42450, 42479]})
    const provisioned = await box.cli(['provision', 'redis', '--name', 'cache'])
    if (provisioned.code !== 0) throw new Error(provisioned.stderr)
    made.push((await json(['show', 'cache'])).envelope.result.id)
  })
  afterAll(async () => {
    await box?.stop()
    await removeLabelled(made)
  })

  it('update changes parameters through the broker, and names the plans there are for an unknown one', async () => {
    const updated = await json(['update', 'cache', '-c', '{"maxmemory_policy":"allkeys-lru"}'])
    expect(updated.code).toBe(0)
    expect(updated.envelope.result).toMatchObject({name: 'cache', state: 'succeeded', plan: 'small'})
    expect((await json(['show', 'cache'])).envelope.result.parameters).toEqual({maxmemory_policy: 'allkeys-lru'})
    const unknown = await box.cli(['update', 'cache', '--plan', 'nosuch'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/service redis has no plan nosuch\n\s+Try: pick one of: small/)
    const nothing = await json(['update', 'cache'])
    expect(nothing.envelope).toMatchObject({status: 2, error: {message: 'nothing to update'}})
  })

  it('a binding made with --ttl 2s is unbound by the broker: gone from the store, and its user can no longer AUTH', async () => {
    const bound = await box.cli(['bind', 'cache', '--ttl', '2s', '--format', 'json'])
    expect(bound.code).toBe(0)
    const credentials = JSON.parse(bound.stdout) as Credentials
    expect(redis(credentials, 'ping').stdout.trim()).toBe('PONG')
    await vi.waitFor(async () => expect(await bindingIds()).toEqual([]), {timeout: 20_000, interval: 250})
    const after = redis(credentials, 'ping')
    expect(after.stdout + after.stderr).toMatch(/WRONGPASS|NOAUTH/)
    expect(after.stdout).not.toContain('PONG')
  })

  it('eval "$(dbroker bind --reuse)" in every new shell keeps one binding', async () => {
    const shell = () => box.sh('eval "$(dbroker bind cache --reuse --ttl 1h --format env)" && echo "$REDIS_USERNAME"')
    const users = [shell(), shell(), shell()].map((r) => r.stdout.trim())
    expect(new Set(users).size).toBe(1)
    expect(await bindingIds()).toHaveLength(1)
    expect((await box.cli(['unbind', 'cache', '--all'])).code).toBe(0)
  })

  it('a redis-cli session through connect works, and its binding is gone once redis-cli exits', async () => {
    const session = await box.cli(['connect', 'cache'], {input: 'SET greeting hello\nGET greeting\nACL WHOAMI\n'})
    expect(session.code).toBe(0)
    expect(session.stdout).toMatch(/^OK\nhello\n/)
    // The session's user is a tenant's, not an admin.
    expect(session.stdout).toMatch(/NOPERM/)
    expect(session.stderr).toMatch(/connecting to cache .* with redis-cli as b\w+ \(a binding for this session/)
    expect(await bindingIds()).toEqual([])
    const printed = await box.cli(['connect', 'cache', '--print'])
    expect(printed.stdout).toContain('REDISCLI_AUTH="$CONNECT_PASSWORD" redis-cli')
    expect(await bindingIds()).toEqual([])
  })

  for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to connect ends redis-cli and unbinds; the password was never in a process's arguments`, async () => {
      const child = spawn(process.execPath, [RUN, 'connect', 'cache'], {env: box.env, stdio: ['pipe', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (chunk) => (stderr += chunk))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      try {
        await vi.waitFor(() => expect(stderr).toMatch(/a binding for this session/), {timeout: 30_000, interval: 100})
        const [binding] = (await json(['show', 'cache', '--credentials'])).envelope.result.bindings
        const password = binding.credentials.password as string
        // The attack: any local user reads every process's command line.
        const cli = box.sh(`pgrep -P ${child.pid} -x redis-cli`).stdout.trim()
        expect(cli).toMatch(/^\d+$/)
        expect(readFileSync(`/proc/${cli}/cmdline`, 'utf8')).not.toContain(password)
        expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).not.toContain(password)
        child.kill(signal)
        expect(await exited).not.toBe(0)
        expect(await bindingIds()).toEqual([])
      } finally {
        child.kill('SIGKILL')
      }
    })
  }

  it('events prints the changes as lines and NDJSON, and events -f exits 1 once the broker goes away', async () => {
    const lines = await box.cli(['events', '-n', '200'])
    expect(lines.code).toBe(0)
    expect(lines.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d binding\s+\w{8} .*unbind/m)
    const follow = spawn(process.execPath, [RUN, 'events', '-f', '--json', '-n', '0'], {env: box.env})
    const exited = new Promise<number | null>((resolve) => follow.on('exit', (code) => resolve(code)))
    const seen: Array<Record<string, unknown>> = []
    createInterface({input: follow.stdout}).on('line', (line) => seen.push(JSON.parse(line)))
    try {
      // The stream is open once a change made now shows up in it.
      await vi.waitFor(
        async () => {
          await box.cli(['restart', 'cache'])
          expect(seen.some((e) => e.kind === 'instance' && e.action === 'restart')).toBe(true)
        },
        {timeout: 30_000, interval: 500},
      )
      expect(seen.every((e) => typeof e.at === 'number' && typeof e.kind === 'string')).toBe(true)
      const pid = JSON.parse(readFileSync(`${box.dataDir}/up.json`, 'utf8')).pid as number
      process.kill(pid, 'SIGTERM')
      expect(await exited).toBe(1)
      expect(seen.at(-1)).toMatchObject({status: 1, error: {message: expect.stringMatching(/event stream ended/)}})
    } finally {
      follow.kill('SIGKILL')
    }
  })
})
