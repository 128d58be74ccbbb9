import {type ChildProcess, spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {createSocket} from 'node:dgram'
import {createConnection, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

const RECEIVER = fileURLToPath(new URL('../../images/log-collector/receiver.mjs', import.meta.url))

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })

/** The collector image's receiver, run by this machine's node: what it prints and what it keeps. */
describe('the log collector receives syslog and keeps each sender apart', () => {
  let dir: string
  let data: string
  let port: number
  let receiver: ChildProcess
  let stdout = ''

  const tcp = (...chunks: string[]) =>
    new Promise<void>((resolve, reject) => {
      const socket = createConnection(port, '127.0.0.1', async () => {
        for (const chunk of chunks) {
          socket.write(chunk)
          await new Promise((r) => setTimeout(r, 20))
        }
        socket.end(() => resolve())
      })
      socket.on('error', reject)
    })
  const udp = (message: string) =>
    new Promise<void>((resolve) => {
      const socket = createSocket('udp4')
      socket.send(message, port, '127.0.0.1', () => socket.close(() => resolve()))
    })
  const printed = (line: string) =>
    vi.waitFor(() => expect(stdout.split('\n')).toContain(line), {timeout: 5000, interval: 20})

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-collector-'))
    // Started as root it runs as nobody, which must reach its data directory.
    chmodSync(dir, 0o755)
    data = path.join(dir, 'data')
    port = await freePort()
    receiver = spawn(process.execPath, [RECEIVER], {
      env: {
        COLLECTOR_PORT: String(port),
        COLLECTOR_DATA: data,
        COLLECTOR_READY_FILE: path.join(data, 'ready'),
        COLLECTOR_MAX_MESSAGE: '256',
        COLLECTOR_MAX_SENDERS: '6',
        COLLECTOR_MAX_FILE_BYTES: '200',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    receiver.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    await vi.waitFor(() => expect(existsSync(path.join(data, 'ready'))).toBe(true), {timeout: 10_000, interval: 20})
  })
  afterAll(async () => {
    if (receiver.exitCode === null) {
      receiver.kill('SIGTERM')
      await new Promise((resolve) => receiver.once('exit', resolve))
    }
    rmSync(dir, {recursive: true, force: true})
  })

  it('RFC 5424 octet-counted over TCP, split anywhere, structured data skipped', async () => {
    const message = '<14>1 2026-12-02T05:00:00.123Z host-a billing 77 - [meta@1 k="a]b"] invoice 1 sent'
    const framed = `${Buffer.byteLength(message)} ${message}`
    await tcp(framed.slice(0, 9), framed.slice(9, 40), framed.slice(40))
    await printed('billing invoice 1 sent')
  })

  it("RFC 3164 over UDP and Docker's default format, newline-framed over TCP", async () => {
    await udp('<13>Dec  2 05:00:00 host-b cron[9]: job done')
    await printed('cron job done')
    await tcp(
      '<30> 2026-12-02T05:00:01Z dockerhost shop_web[1]: one\n<30> 2026-12-02T05:00:01Z dockerhost shop_web[1]: two\n',
    )
    await printed('shop_web one')
    await printed('shop_web two')
    expect(readFileSync(path.join(data, 'shop_web.log'), 'utf8')).toBe('one\ntwo\n')
  })

  it("Docker's syslog-format rfc3164 (the default over tcp://): tag[pid] with no host, a colon in the text", async () => {
    await tcp('<30>Dec  2 06:47:29 billing[1878]: 1:M 02 Dec 2026 * Ready to accept connections\n')
    await printed('billing 1:M 02 Dec 2026 * Ready to accept connections')
  })

  it('a hostile sender: control characters escaped, names kept inside the data directory, long lines cut', async () => {
    await tcp('<14>1 - - ../../etc/passwd - - - \x1b[2J\x1b]52;c;cHduZWQ=\x07gotcha\n')
    await printed('.._.._etc_passwd \\x1b[2J\\x1b]52;c;cHduZWQ=\\x07gotcha')
    expect(existsSync(path.join(data, '.._.._etc_passwd.log'))).toBe(true)
    await udp(`<14>1 - - long - - - ${'x'.repeat(600)}`)
    await vi.waitFor(() => expect(stdout).toMatch(/^long x+$/m), {timeout: 5000, interval: 20})
    expect(stdout.match(/^long (x+)$/m)![1].length).toBeLessThan(256)
  })

  it('made-up sender names stop at the cap, and a full file is rotated, one old file kept', async () => {
    for (let i = 0; i < 8; i++) await udp(`<14>1 - - flood${i} - - - hello`)
    await printed('_other hello')
    expect(readdirSync(data).filter((f) => f.endsWith('.log')).length).toBeLessThanOrEqual(7)
    for (let i = 0; i < 12; i++) await udp(`<14>1 - - billing - - - line ${i} of twenty bytes`)
    await printed('billing line 11 of twenty bytes')
    expect(readFileSync(path.join(data, 'billing.log'), 'utf8').length).toBeLessThanOrEqual(200)
    expect(readFileSync(path.join(data, 'billing.log.1'), 'utf8')).toContain('line')
  })
})
