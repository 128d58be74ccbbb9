#!/usr/bin/env node
// GET /v2/catalog: the broker's real app (built by its factory over an SQLite store in a temp dir,
// no engine needed) against a bare fastify serving the same JSON, with wrk -c32 -d5s, in one run.
// Needs a built tree (npm run build) and wrk (apt-get install wrk).
// Usage: node bench/catalog.mjs [--rounds 3] [--duration 5] [--version 2.17] [--json]
import {execFile, execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import Fastify from 'fastify'

import {buildBrokerApp} from '../dist/broker/app.js'
import {BrokerEvents} from '../dist/broker/events.js'
import {Provisioner} from '../dist/broker/lifecycle/index.js'
import {loadCatalog} from '../dist/catalog/index.js'
import {createLogger} from '../dist/core/log.js'
import {openStore} from '../dist/store/index.js'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const ROUNDS = Number(opt('rounds', 3))
const DURATION = Number(opt('duration', 5))
const VERSION = opt('version', '2.17')

try {
  execFileSync('wrk', ['--version'], {stdio: 'ignore'})
} catch (error) {
  // wrk --version exits 1 after printing its version; only a missing binary is fatal.
  if (error.code === 'ENOENT') {
    console.error('wrk not found: apt-get install wrk')
    process.exit(1)
  }
}

const credentials = {username: 'broker', password: 'bench-password-bench-password-00'}
const auth = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`

// Async, so this process's event loop stays free to serve what wrk asks. Besides the rate, the CPU time
// this process spent per request: on a busy machine the rate swings with the neighbours, the CPU cost much less.
async function wrk(url) {
  const cpu = process.cpuUsage()
  const {stdout: out} = await promisify(execFile)(
    'wrk',
    ['-t2', '-c32', `-d${DURATION}s`, '-H', `Authorization: ${auth}`, '-H', `X-Broker-API-Version: ${VERSION}`, url],
    {encoding: 'utf8'},
  )
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  if (!rps) throw new Error(`wrk printed no rate:\n${out}`)
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw error responses from ${url}:\n${out}`)
  const spent = process.cpuUsage(cpu)
  const requests = Number(/(\d+) requests in/.exec(out)[1])
  return {rps: Number(rps[1]), cpuUs: (spent.user + spent.system) / requests}
}

const urlOf = (app) => `http://127.0.0.1:${app.server.address().port}/v2/catalog`
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-catalog-'))
let store
const apps = []
try {
  store = await openStore(`sqlite:${path.join(dir, 'store.sqlite')}`)
  const catalog = loadCatalog()
  const log = createLogger('info')
  const provisioner = new Provisioner({
    store,
    catalog,
    agentFor: () => {
      throw new Error('the catalog bench runs no containers')
    },
    events: new BrokerEvents(),
    log,
    brokerId: 'bench',
    keepaliveMs: 5000,
  })
  const broker = buildBrokerApp({catalog, provisioner, credentials, log, health: async () => {}})
  await broker.listen({host: '127.0.0.1', port: 0})
  apps.push(broker)

  // The same bytes the broker answers, served by fastify with nothing else.
  const probe = await fetch(urlOf(broker), {headers: {Authorization: auth, 'X-Broker-API-Version': VERSION}})
  if (probe.status !== 200) throw new Error(`the broker answered ${probe.status}: ${await probe.text()}`)
  const body = await probe.text()
  const bare = Fastify({logger: false})
  bare.get('/v2/catalog', (_request, reply) =>
    reply.header('Content-Type', 'application/json; charset=utf-8').send(body),
  )
  await bare.listen({host: '127.0.0.1', port: 0})
  apps.push(bare)

  await wrk(urlOf(broker)) // warm both up: JIT, connection setup
  await wrk(urlOf(bare))
  const rates = {broker: [], bare: []}
  for (let round = 0; round < ROUNDS; round++) {
    rates.broker.push(await wrk(urlOf(broker)))
    rates.bare.push(await wrk(urlOf(bare)))
  }
  // Each round's two runs are back to back, under the same neighbours: their ratio is what the load swings least.
  const ratios = rates.broker.map((r, i) => r.rps / rates.bare[i].rps)
  if (process.argv.includes('--json'))
    console.log(JSON.stringify({ratios, broker: rates.broker.map((r) => r.rps), bare: rates.bare.map((r) => r.rps)}))
  const print = process.argv.includes('--json') ? () => {} : console.log
  const fmt = (x) => Math.round(x).toLocaleString('en-US')
  const cpuRatios = rates.broker.map((r, i) => r.cpuUs / rates.bare[i].cpuUs)
  print(
    `GET /v2/catalog (${body.length} bytes, X-Broker-API-Version ${VERSION}), wrk -t2 -c32 -d${DURATION}s, ${ROUNDS} rounds`,
  )
  print('')
  print('| round | dbroker app req/s | bare fastify req/s | ratio | CPU/request app | CPU/request bare |')
  print('|---|---|---|---|---|---|')
  rates.broker.forEach((r, i) => {
    const f = rates.bare[i]
    print(
      `| ${i + 1} | ${fmt(r.rps)} | ${fmt(f.rps)} | ${ratios[i].toFixed(2)} × | ${r.cpuUs.toFixed(1)} µs | ${f.cpuUs.toFixed(1)} µs |`,
    )
  })
  print(
    `| median | ${fmt(median(rates.broker.map((r) => r.rps)))} | ${fmt(median(rates.bare.map((r) => r.rps)))} | ${median(ratios).toFixed(2)} × | ${median(rates.broker.map((r) => r.cpuUs)).toFixed(1)} µs | ${median(rates.bare.map((r) => r.cpuUs)).toFixed(1)} µs (${median(cpuRatios).toFixed(2)} ×) |`,
  )
} finally {
  for (const app of apps) await app.close()
  await store?.close()
  rmSync(dir, {recursive: true, force: true})
}
