import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {redisAclUsers} from '../helpers/redis-admin.js'
import {ORG, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

// Another build can stand in, e.g. the image before the fix, to watch the attack work there.
const IMAGE = process.env.DBROKER_TEST_REDIS_IMAGE ?? 'dbroker/redis:7'
const SERVICE = '7a1d3c52-9e0b-4f6a-8d21-00000000b701'
const PLAN = {service_id: SERVICE, plan_id: '7a1d3c52-9e0b-4f6a-8d21-00000000b711'}

const catalogYaml = `services:
  - id: ${SERVICE}
    name: redis-kept-busy
    description: the reference redis image, a user per binding
    bindable: true
    plans:
      - id: ${PLAN.plan_id}
        name: per-binding
        description: a user per binding
        container:
          image: ${IMAGE}
          ports: [6379]
          volumes: [/data]
          memory: 128m
          restart: unless-stopped
          credentials: {username: default, env: {password: REDIS_PASSWORD}}
          binding_credentials: per-binding
          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 30s}
`

const resp = (args: string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`

/** One command over a fresh connection (AUTH first, on the wire, not in argv); resolves with the raw reply. */
function send(port: number, user: string, password: string, args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({host: '127.0.0.1', port})
    let data = ''
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)))
    socket.on('error', reject)
    socket.on('connect', () => socket.write(resp(['AUTH', user, password]) + resp(args)))
    socket.on('data', (d) => {
      data += d.toString()
      // +OK of AUTH, then the command's reply
      if (/^\+OK\r\n[\s\S]*\r\n/.test(data) || /^-/.test(data)) {
        socket.end()
        resolve(data)
      }
    })
  })
}

/**
 * What an attacker holding one binding does to keep its unbind from happening: one SUNION naming its own big set
 * 12000 times keeps redis busy for longer than a hook may take (25 s) (no ACL rule bounds it, nothing can kill it), sent again on a new
 * connection the moment it ends or is cut, until the attacker is locked out.
 */
function keepBusy(port: number, user: string, password: string, key: string) {
  let stopped = false
  let current: Socket | undefined
  let commands = 0
  let lockedOut = ''
  const loop = async () => {
    while (!stopped) {
      await new Promise<void>((done) => {
        const socket = connect({host: '127.0.0.1', port})
        current = socket
        socket.on('error', () => done())
        socket.on('close', () => done())
        socket.on('connect', () => {
          commands++
          socket.write(resp(['AUTH', user, password]) + resp(['SUNION', ...Array<string>(12_000).fill(key)]))
        })
        socket.on('data', (d) => {
          if (/WRONGPASS|NOAUTH/.test(d.toString())) lockedOut = d.toString().trim()
          socket.destroy()
        })
      })
      if (lockedOut) return
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const running = loop()
  return {
    commands: () => commands,
    lockedOut: () => lockedOut,
    stop: async () => {
      stopped = true
      current?.destroy()
      await running
    },
  }
}

const cli = promisify(execFile)
async function ping(uri: string): Promise<string> {
  const {hostname, port, username, password} = new URL(uri)
  try {
    const {stdout} = await cli('redis-cli', ['-h', hostname, '-p', port, '--user', username, 'PING'], {
      env: {...process.env, REDISCLI_AUTH: decodeURIComponent(password)},
      timeout: 3000,
    })
    return stdout.trim()
  } catch (error) {
    const {stdout, stderr} = error as {stdout?: string; stderr?: string}
    return `${stdout ?? ''}${stderr ?? ''}`.trim()
  }
}

describe('redis: a binding that keeps its server busy cannot hold up its own unbind', () => {
  let t: TestSystem
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-catalog-'))
    const catalogFile = path.join(dir, 'catalog.yml')
    writeFileSync(catalogFile, catalogYaml)
    t = await startTestSystem({catalogFile, portRange: [43900, 43919]})
  })
  afterAll(async () => {
    await t?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('the unbind takes the user out of the ACL file and restarts the container: the attacker is locked out', async () => {
    const instanceId = testId()
    expect((await t.osb.provision(instanceId, {...PLAN, ...ORG})).status).toBe(201)
    const bindOne = async () => {
      const bindingId = testId('b')
      const bound = await t.osb.bind(instanceId, bindingId, PLAN)
      expect(bound.status).toBe(201)
      return {bindingId, ...(bound.body.credentials as {username: string; password: string; uri: string; port: number})}
    }
    const [attacker, neighbour] = [await bindOne(), await bindOne()]
    // The attacker's own key: a set of 20000 members, well inside the plan's memory.
    const key = 'big'
    const members = Array.from({length: 20_000}, (_, i) => `m${i}`)
    expect(await send(attacker.port, attacker.username, attacker.password, ['SADD', key, ...members])).toMatch(
      /:20000\r\n$/,
    )
    const busy = keepBusy(attacker.port, attacker.username, attacker.password, key)
    try {
      // The server no longer answers anyone: the neighbour's PING waits past 3 s.
      await vi.waitFor(async () => expect(await ping(neighbour.uri)).not.toBe('PONG'), {timeout: 20_000, interval: 200})
      const unbound = await t.osb.unbind(instanceId, attacker.bindingId, PLAN)
      expect(unbound.status, JSON.stringify(unbound.body)).toBe(200)
      // Once the restarted container answers, the attacker's next command is refused: its user is gone.
      await vi.waitFor(() => expect(busy.lockedOut()).toMatch(/WRONGPASS|NOAUTH/), {timeout: 60_000, interval: 200})
      expect(await redisAclUsers(instanceId)).not.toContain(attacker.username)
      expect(busy.commands()).toBeGreaterThan(0)
    } finally {
      await busy.stop()
    }
    await vi.waitFor(async () => expect(await ping(neighbour.uri)).toBe('PONG'), {timeout: 30_000, interval: 200})
    expect(await ping(attacker.uri)).toMatch(/WRONGPASS|NOAUTH/)
    expect((await t.osb.unbind(instanceId, neighbour.bindingId, PLAN)).status).toBe(200)
    expect((await t.osb.deprovision(instanceId, PLAN)).status).toBe(200)
  }, 150_000)
})
