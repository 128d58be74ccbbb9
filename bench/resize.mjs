#!/usr/bin/env node
// Resize of a loop disk holding 200 MB, the BOSH way, with a real Redis container on it:
// the resize's hooks stop the container and start it again (until PING answers). Prints per run
// the total time, the downtime between the hooks, the downtime a client polling every 10 ms saw,
// and the steps; plus a plain restart of the same container (the floor of any downtime).
// Needs root, loop devices, a built tree (npm run build) and the dbroker/redis:7 image.
// Usage: node bench/resize.mjs [--runs 4] [--data-mb 200]
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {connect, createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import Docker from 'dockerode'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const RUNS = opt('runs', 4)
const DATA_MB = opt('data-mb', 200)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const {LoopDisks, loopSupported} = await import(path.join(root, 'dist/agent/disks.js'))

const support = await loopSupported()
if (!support.supported) {
  console.error(support.reason)
  process.exit(1)
}

const docker = new Docker()
const password = randomBytes(16).toString('hex')
const name = `bench-resize-${randomBytes(3).toString('hex')}`
const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-disks-'))
const disks = new LoopDisks({disksDir: dir})

/** One AUTH + command round trip; true when the reply contains `expect`. */
function ask(port, command, expect) {
  return new Promise((resolve) => {
    const socket = connect({host: '127.0.0.1', port})
    let reply = ''
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
    socket.on('data', (chunk) => {
      reply += chunk
      if (reply.includes(expect)) done(true)
      else if (reply.includes('-')) done(false)
    })
    socket.on('connect', () => socket.write(`AUTH default ${password}\r\n${command}\r\n`))
  })
}
const ping = (port) => ask(port, 'PING', '+PONG')
async function waitReady(port) {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(5)) if (await ping(port)) return
  throw new Error('redis did not answer within 60 s')
}

/** Polls every 10 ms while `work` runs; returns the longest stretch without a PONG. */
async function observedDowntime(port, work) {
  let running = true
  let lastUp = Date.now()
  let longest = 0
  const poller = (async () => {
    while (running) {
      const ok = await ping(port)
      const now = Date.now()
      if (ok) lastUp = now
      else longest = Math.max(longest, now - lastUp)
      await sleep(10)
    }
  })()
  try {
    return {result: await work(), downtime: () => longest}
  } finally {
    running = false
    await poller
  }
}

/** A free port on 127.0.0.1, fixed for the container's life (a random HostPort changes on every start). */
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })

let container
try {
  const port = await freePort()
  const disk = await disks.create('bench', '256M', {owner: {uid: 100, gid: 101}})
  container = await docker.createContainer({
    name,
    Image: 'dbroker/redis:7',
    Env: [`REDIS_PASSWORD=${password}`],
    ExposedPorts: {'6379/tcp': {}},
    HostConfig: {Binds: [`${disk.mountPoint}:/data`], PortBindings: {'6379/tcp': [{HostIp: '127.0.0.1', HostPort: String(port)}]}},
  })
  await container.start()
  await waitReady(port)
  execFileSync('dd', ['if=/dev/urandom', `of=${disk.mountPoint}/blob`, 'bs=1M', `count=${DATA_MB}`, 'status=none'])

  const marker = randomBytes(8).toString('hex')
  if (!(await ask(port, `SET bench-marker ${marker}`, '+OK'))) throw new Error('SET failed')
  const hooks = {stop: () => container.stop({t: 10}), start: async () => (await container.start(), await waitReady(port))}
  const restart = await observedDowntime(port, async () => {
    const began = Date.now()
    await hooks.stop()
    await hooks.start()
    return Date.now() - began
  })
  const rows = []
  const sizes = ['512M', '256M']
  for (let run = 0; run < RUNS; run++) {
    const to = sizes[run % 2]
    const {result: report, downtime} = await observedDowntime(port, () => disks.resize('bench', to, {hooks}))
    rows.push({run: run + 1, to, total: report.totalMs, hooks: report.downtimeMs, client: downtime(), ...report.steps})
  }

  if (!(await ask(port, 'GET bench-marker', marker))) throw new Error('the key written before the resizes is gone')
  const pad = (v, n) => String(v).padStart(n)
  console.log(`\nresize of a loop disk holding ${DATA_MB} MB (Redis on it; ms)`)
  console.log(`| run | to   | total | downtime (hooks) | downtime (client) | create | stop | copy | verify | swap | start | cleanup |`)
  console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|`)
  for (const r of rows) {
    console.log(`| ${r.run} | ${r.to} | ${pad(r.total, 5)} | ${pad(r.hooks, 5)} | ${pad(r.client, 5)} | ${r.create} | ${r.stop} | ${r.copy} | ${r.verify} | ${r.swap} | ${r.start} | ${r.cleanup} |`)
  }
  const median = (key) => [...rows.map((r) => r[key])].sort((a, b) => a - b)[Math.floor(rows.length / 2)]
  console.log(`\nmedian: total ${median('total')} ms, downtime ${median('hooks')} ms (client saw ${median('client')} ms)`)
  console.log(`plain stop + start of the same container until PING: ${restart.result} ms (client saw ${restart.downtime()} ms)`)
} finally {
  await container?.remove({force: true}).catch(() => undefined)
  await disks.remove('bench').catch((error) => console.error(`cleanup: ${error.message}`))
  const left = await disks.mounts()
  if (left.length === 0) rmSync(dir, {recursive: true, force: true})
  else console.error(`cleanup: still mounted, left in place: ${left.join(' ')}`)
}
