#!/usr/bin/env node
// Resize of a disk holding 200 MB through dbroker as an operator runs it: `dbroker up` in this
// process (real engine) with a catalog whose redis plan has a loop disk, one instance with 200 MB
// on its disk, then `POST /admin/v1/instances/:id/disk` (what `dbroker disk resize` sends) to 512M
// and back to 256M. Prints per run the request's total time, the downtime the agent measured
// (stop until the service answers on the new disk), the downtime a client polling PING every
// 10 ms saw; plus a plain restart of the same container (the floor of any downtime).
// Needs root, loop devices, a built tree (npm run build) and the dbroker/redis:7 image.
// Usage: node bench/resize.mjs [--runs 4] [--data-mb 200]
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const RUNS = opt('runs', 4)
const DATA_MB = opt('data-mb', 200)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const {loopSupported} = await import(path.join(root, 'dist/agent/disks.js'))
const {startLocal} = await import(path.join(root, 'dist/system/local.js'))
const {createLogger} = await import(path.join(root, 'dist/core/log.js'))

const support = await loopSupported()
if (!support.supported) {
  console.error(support.reason)
  process.exit(1)
}

const REDIS = {service_id: 'bc8c6ef5-570d-4f7b-95fd-b6d009b47509', plan_id: '9224c565-e657-4b4e-8048-c400aea5257c'}
const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-resize-'))
const catalogFile = path.join(dir, 'catalog.yml')
const images = path.join(root, 'images')
writeFileSync(
  catalogFile,
  readFileSync(path.join(images, 'catalog.yml'), 'utf8')
    .replace(/build: (redis|postgresql|mariadb)\b/g, (_, image) => `build: ${path.join(images, image)}`)
    .replace('volumes: [/data]\n', 'volumes: [/data]\n          disk: {size: 256M}\n'),
)
// The agent's downtime comes from its log line "disk of instance X: A -> B bytes, N entries verified, M ms down".
const agentDowntimes = []
const log = createLogger('info', (line) => {
  const match = / (\d+) ms down/.exec(line)
  if (match) agentDowntimes.push(Number(match[1]))
  if (process.env.BENCH_LOG) process.stderr.write(line)
})
let password = ''

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

let system
const id = `bench-resize-${randomBytes(3).toString('hex')}`
const basic = ({username, password: secret}) => `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`
try {
  system = await startLocal({
    dataDir: path.join(dir, 'data'),
    catalogFile,
    listen: {host: '127.0.0.1', port: 0},
    serviceAddress: '127.0.0.1',
    portRange: [47400, 47409],
    keepaliveMs: 1000,
    log,
  })
  const call = async (method, url, body, admin = false) => {
    const response = await fetch(`${system.url}${url}`, {
      method,
      headers: {
        authorization: basic(admin ? system.adminCredentials : system.credentials),
        'content-type': 'application/json',
        'x-broker-api-version': '2.17',
      },
      body: body && JSON.stringify(body),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`)
    return JSON.parse(text || '{}')
  }
  await call('PUT', `/v2/service_instances/${id}`, {...REDIS, organization_guid: 'bench', space_guid: 'bench'})
  const instance = await system.store.getInstance(id)
  password = instance.credentials.password
  const port = instance.spec.ports[0].host
  await waitReady(port)
  const name = instance.spec.name
  execFileSync('docker', ['exec', '-u', 'redis', name, 'sh', '-c', `head -c ${DATA_MB}M /dev/urandom > /data/blob`])

  const marker = randomBytes(8).toString('hex')
  if (!(await ask(port, `SET bench-marker ${marker}`, '+OK'))) throw new Error('SET failed')
  const restart = await observedDowntime(port, async () => {
    const began = Date.now()
    execFileSync('docker', ['restart', '-t', '10', name])
    await waitReady(port)
    return Date.now() - began
  })
  const rows = []
  const sizes = ['512M', '256M']
  for (let run = 0; run < RUNS; run++) {
    const to = sizes[run % 2]
    const {result: total, downtime} = await observedDowntime(port, async () => {
      const began = Date.now()
      await call('POST', `/admin/v1/instances/${id}/disk`, {size: to}, true)
      return Date.now() - began
    })
    rows.push({run: run + 1, to, total, agent: agentDowntimes.at(-1), client: downtime()})
  }

  if (!(await ask(port, 'GET bench-marker', marker))) throw new Error('the key written before the resizes is gone')
  const pad = (v, n) => String(v).padStart(n)
  console.log(`\nresize of a loop disk holding ${DATA_MB} MB through dbroker (Redis on it; ms)`)
  console.log(`| run | to   | total (request) | downtime (agent: stop -> ready) | downtime (client polling) |`)
  console.log(`|---|---|---|---|---|`)
  for (const r of rows) console.log(`| ${r.run} | ${r.to} | ${pad(r.total, 5)} | ${pad(r.agent, 5)} | ${pad(r.client, 5)} |`)
  const median = (key) => [...rows.map((r) => r[key])].sort((a, b) => a - b)[Math.floor(rows.length / 2)]
  console.log(`\nmedian: total ${median('total')} ms, downtime ${median('agent')} ms (client saw ${median('client')} ms)`)
  console.log(`plain docker restart of the same container until PING: ${restart.result} ms (client saw ${restart.downtime()} ms)`)
} finally {
  if (system) {
    await fetch(`${system.url}/v2/service_instances/${id}?service_id=${REDIS.service_id}&plan_id=${REDIS.plan_id}`, {
      method: 'DELETE',
      headers: {authorization: basic(system.credentials), 'x-broker-api-version': '2.17'},
    }).catch((error) => console.error(`cleanup: ${error.message}`))
    await system.close()
  }
  if (!readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir}/`)) rmSync(dir, {recursive: true, force: true})
  else console.error(`cleanup: still mounted under ${dir}, left in place`)
}
