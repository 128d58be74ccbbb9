#!/usr/bin/env node
// Many agents and many brokers, measured on real processes:
//   heartbeats  N simulated agents heartbeating every 5 s against one `dbroker broker start`,
//               on SQLite and on PostgreSQL: broker CPU and heartbeat latency (p50/p99)
//   provision   sync provisions through 1 broker vs 2 brokers on one PostgreSQL, with two
//               agents (`dbroker agent start`) on the local engine, brokers and agents at a 1 s keepalive,
//               and how the hosts looked meanwhile (oldest heartbeat, dead samples, engine condition)
// Secrets as the README says: passwords in the environment (DBROKER_PASSWORD, DBROKER_ADMIN_PASSWORD), each host's
// own token from the admin API's enroll (the real agents read theirs from a 0600 --token-file), none in argv.
// Needs a built CLI (npm run build), PostgreSQL from Debian, an engine with dbroker/redis:7.
// Usage: node bench/multihost.mjs [--agents 500] [--seconds 30] [--instances 20] [--parallel 10]
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, chownSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const AGENTS = opt('agents', 500)
const SECONDS = opt('seconds', 30)
const INSTANCES = opt('instances', 20)
const PARALLEL = opt('parallel', 10)
const KEEPALIVE_MS = 5000
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUN = path.join(root, 'bin', 'run.js')
const PG_BIN = '/usr/lib/postgresql/15/bin'
const PG_PORT = 44433
const OSB = {username: 'broker', password: randomBytes(12).toString('hex')}
const ADMIN = {username: 'ops', password: randomBytes(12).toString('hex')}
const REDIS = {service_id: 'bc8c6ef5-570d-4f7b-95fd-b6d009b47509', plan_id: '9224c565-e657-4b4e-8048-c400aea5257c'}
const dir = mkdtempSync('/tmp/dbbench-')
chmodSync(dir, 0o755)
const children = []
let pgStarted = false

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const httpAgent = new http.Agent({keepAlive: true, maxSockets: 256})

function request(url, {method = 'GET', body, headers = {}} = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = http.request(url, {method, agent: httpAgent, headers: {...headers, ...(payload ? {'content-type': 'application/json', 'content-length': payload.length} : {})}}, (res) => {
      let text = ''
      res.on('data', (c) => (text += c))
      res.on('end', () => resolve({status: res.statusCode, body: text ? JSON.parse(text) : {}}))
    })
    req.on('error', reject)
    req.end(payload)
  })
}
const basic = ({username, password}) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
const bearer = (token) => ({authorization: `Bearer ${token}`})
const osbHeaders = {authorization: basic(OSB), 'x-broker-api-version': '2.17'}
const adminHeaders = {authorization: basic(ADMIN)}
// Every broker on the shared store seals its secrets with the same key.
const storeKeyFile = path.join(dir, 'store.key')
writeFileSync(storeKeyFile, `${randomBytes(32).toString('hex')}\n`, {mode: 0o600})
const brokerSecrets = {DBROKER_PASSWORD: OSB.password, DBROKER_ADMIN_PASSWORD: ADMIN.password}
const brokerArgs = (store, keepalive) => [
  'broker', 'start', '--store', store, '--store-key-file', storeKeyFile, '--username', OSB.username,
  '--admin-username', ADMIN.username, '--keepalive', keepalive,
  // The simulated agents' URLs are plain http off loopback.
  '--insecure',
]

/** A host's own token, minted by the broker's admin API (what `dbroker hosts add` calls). */
async function enroll(brokerUrl, id) {
  const r = await request(`${brokerUrl}/admin/v1/hosts/${id}/enroll`, {method: 'POST', headers: adminHeaders})
  if (r.status !== 201 && r.status !== 200) throw new Error(`enrolling ${id} answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body.token
}

function startDaemon(name, argv, env = {}) {
  const log = openSync(path.join(dir, `${name}.log`), 'a')
  const child = spawn(process.execPath, [RUN, ...argv, '--json', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', log],
    env: {...process.env, ...env},
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line) resolve({child, ...JSON.parse(line)})
    })
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${readFileSync(path.join(dir, `${name}.log`), 'utf8').slice(-1500)}`)))
  })
}

function startPostgres() {
  const pg = path.join(dir, 'pg')
  mkdirSync(pg)
  chownSync(pg, Number(execFileSync('id', ['-u', 'postgres'], {encoding: 'utf8'})), Number(execFileSync('id', ['-g', 'postgres'], {encoding: 'utf8'})))
  execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', `${pg}/data`, '-A', 'trust', '-U', 'dbroker'], {stdio: 'ignore'})
  pgStarted = true
  execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', `${pg}/data`, '-l', `${pg}/log`, '-w', '-o', `-p ${PG_PORT} -k ${pg} -c listen_addresses=127.0.0.1 -c max_connections=200`, 'start'], {stdio: 'ignore'})
}
const createDb = (name) => execFileSync('psql', ['-h', '127.0.0.1', '-p', String(PG_PORT), '-U', 'dbroker', '-d', 'postgres', '-qc', `create database ${name}`])

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function heartbeatBench(store, port) {
  const broker = await startDaemon(`hb-${store.split(':')[0]}`, [...brokerArgs(store, '5s'), '--listen', `127.0.0.1:${port}`], brokerSecrets)
  const facts = {engineVersion: '20.10.24', cpus: 8, memoryBytes: 32e9, containersRunning: 3, registryMirrors: [], insecureRegistries: [], loggingDriver: 'json-file'}
  const containers = Array.from({length: 3}, (_, i) => ({instanceId: `sim-${i}`, status: 'running', health: 'none', restartCount: 0}))
  const tokens = []
  for (let i = 0; i < AGENTS; i += 50) {
    await Promise.all(Array.from({length: Math.min(50, AGENTS - i)}, async (_, k) => (tokens[i + k] = await enroll(broker.url, `sim-${i + k}`))))
  }
  for (let i = 0; i < AGENTS; i += 50) {
    await Promise.all(Array.from({length: Math.min(50, AGENTS - i)}, (_, k) => request(`${broker.url}/agents/v1/register`, {
      method: 'POST',
      headers: bearer(tokens[i + k]),
      body: {id: `sim-${i + k}`, agentUrl: `http://10.0.${Math.floor((i + k) / 250)}.${(i + k) % 250}:9997`, serviceAddress: '10.0.0.1', bindAddress: '10.0.0.1', portRange: [40000, 40999], keepaliveMs: KEEPALIVE_MS, facts, containers},
    })))
  }
  const latencies = []
  let errors = 0
  const cpuBefore = cpuSeconds(broker.child.pid)
  const started = Date.now()
  const end = started + SECONDS * 1000
  await Promise.all(Array.from({length: AGENTS}, async (_, i) => {
    await sleep((KEEPALIVE_MS * i) / AGENTS) // agents' beats spread over the interval, as they start at different times
    while (Date.now() < end) {
      const t = performance.now()
      const r = await request(`${broker.url}/agents/v1/heartbeat`, {method: 'POST', headers: bearer(tokens[i]), body: {id: `sim-${i}`, facts, containers}}).catch(() => ({status: 0}))
      if (r.status === 200) latencies.push(performance.now() - t)
      else errors++
      await sleep(KEEPALIVE_MS)
    }
  }))
  const elapsed = (Date.now() - started) / 1000
  const cpu = cpuSeconds(broker.child.pid) - cpuBefore
  broker.child.kill('SIGTERM')
  return {store: store.split(':')[0], beats: latencies.length, perSecond: latencies.length / elapsed, cpuPercent: (cpu / elapsed) * 100, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: Math.max(...latencies), errors}
}

// Instances a provision run may have made, with the broker that made them: deprovisioned even when the run fails.
const provisioned = new Map()
const everProvisioned = new Set()

/** Containers and volumes of this run's instances still on the engine after their DELETE answered; removed, and counted. */
function removeLeftovers() {
  let left = 0
  for (const id of everProvisioned) {
    const docker = (...argv) => execFileSync('docker', argv, {encoding: 'utf8'}).split('\n').filter(Boolean)
    const containers = docker('ps', '-aq', '--filter', `label=dbroker.instance=${id}`)
    const volumes = docker('volume', 'ls', '-q', '--filter', `label=dbroker.instance=${id}`)
    if (containers.length) docker('rm', '-f', ...containers)
    if (volumes.length) docker('volume', 'rm', '-f', ...volumes)
    left += containers.length
  }
  return left
}
const deprovision = (id) =>
  request(`${provisioned.get(id)}/v2/service_instances/${id}?service_id=${REDIS.service_id}&plan_id=${REDIS.plan_id}`, {method: 'DELETE', headers: osbHeaders}).then(() => provisioned.delete(id))

/** Samples the brokers' view of the hosts while provisions run: the oldest heartbeat seen, dead hosts, engine conditions. */
function watchHosts(brokerUrl) {
  const seen = {maxAgeMs: 0, dead: 0, engine: new Set()}
  let stop = false
  const done = (async () => {
    while (!stop) {
      const r = await request(`${brokerUrl}/admin/v1/hosts`, {headers: adminHeaders}).catch(() => undefined)
      for (const h of r?.status === 200 ? r.body : []) {
        seen.maxAgeMs = Math.max(seen.maxAgeMs, h.heartbeatAgeMs)
        if (h.status !== 'alive') seen.dead++
        if (h.facts?.engine) seen.engine.add(h.facts.engine.status)
      }
      await sleep(200)
    }
  })()
  return async () => {
    stop = true
    await done
    return seen
  }
}

async function provisionBench(brokerUrls, label) {
  const ids = Array.from({length: INSTANCES}, (_, i) => `bench-${label}-${i}-${Math.random().toString(36).slice(2, 8)}`)
  let next = 0
  const latencies = []
  const hosts = watchHosts(brokerUrls[0])
  const started = performance.now()
  await Promise.all(Array.from({length: PARALLEL}, async () => {
    while (next < ids.length) {
      const i = next++
      const t = performance.now()
      provisioned.set(ids[i], brokerUrls[i % brokerUrls.length])
      everProvisioned.add(ids[i])
      const r = await request(`${brokerUrls[i % brokerUrls.length]}/v2/service_instances/${ids[i]}`, {method: 'PUT', headers: osbHeaders, body: {...REDIS, organization_guid: 'o', space_guid: 's'}})
      if (r.status !== 201) throw new Error(`provision ${ids[i]} answered ${r.status}: ${JSON.stringify(r.body)}`)
      latencies.push(performance.now() - t)
    }
  }))
  const seconds = (performance.now() - started) / 1000
  const seen = await hosts()
  for (const id of ids) await deprovision(id)
  return {brokers: brokerUrls.length, instances: ids.length, seconds, perSecond: ids.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ...seen}
}

function table(title, head, rows) {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const widths = head.map((_, c) => Math.max(...cells.map((r) => r[c].length)))
  console.log(`\n${title}`)
  for (const [i, r] of cells.entries()) {
    console.log(r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }
}

try {
  startPostgres()
  createDb('hb')
  createDb('prov')
  const beats = []
  beats.push(await heartbeatBench(`sqlite:${dir}/hb.db`, 44601))
  beats.push(await heartbeatBench(`postgres://dbroker@127.0.0.1:${PG_PORT}/hb`, 44602))
  table(
    `Heartbeats: ${AGENTS} simulated agents every ${KEEPALIVE_MS / 1000} s for ${SECONDS} s against one broker (target p99 < 50 ms)`,
    ['store', 'beats', 'beats/s', 'broker CPU', 'p50', 'p99', 'max', 'errors'],
    beats.map((b) => [b.store, b.beats, b.perSecond.toFixed(1), `${b.cpuPercent.toFixed(1)} %`, `${b.p50.toFixed(1)} ms`, `${b.p99.toFixed(1)} ms`, `${b.max.toFixed(1)} ms`, b.errors]),
  )

  const store = `postgres://dbroker@127.0.0.1:${PG_PORT}/prov`
  const b1 = await startDaemon('prov-b1', [...brokerArgs(store, '1s'), '--listen', '127.0.0.1:44611', '--id', 'bench-1'], brokerSecrets)
  const b2 = await startDaemon('prov-b2', [...brokerArgs(store, '1s'), '--listen', '127.0.0.1:44612', '--id', 'bench-2'], brokerSecrets)
  for (const [i, [name, range]] of [['a', '44700-44799'], ['b', '44800-44899']].entries()) {
    const id = `bench-host-${name}`
    const tokenFile = path.join(dir, `${id}.token`)
    writeFileSync(tokenFile, `${await enroll(b1.url, id)}\n`, {mode: 0o600})
    await startDaemon(`agent-${name}`, ['agent', 'start', '--id', id, '--service-address', '127.0.0.1', '--port-range', range, '--broker', b1.url, '--broker', b2.url, '--token-file', tokenFile, '--keepalive', '1s', '--listen', `127.0.0.1:${44621 + i}`])
  }
  await sleep(1500)
  await provisionBench([b1.url], 'warm')
  const runs = [await provisionBench([b1.url], 'one'), await provisionBench([b1.url, b2.url], 'two')]
  table(
    `Provision throughput: ${INSTANCES} sync redis provisions, ${PARALLEL} at a time, 2 agents on the local engine, PostgreSQL store`,
    ['brokers', 'instances', 'wall', 'provisions/s', 'p50', 'p99', 'oldest heartbeat', 'dead samples', 'engine'],
    runs.map((r) => [
      r.brokers,
      r.instances,
      `${r.seconds.toFixed(1)} s`,
      r.perSecond.toFixed(2),
      `${r.p50.toFixed(0)} ms`,
      `${r.p99.toFixed(0)} ms`,
      `${r.maxAgeMs} ms`,
      r.dead,
      [...r.engine].sort().join(',') || '-',
    ]),
  )
} finally {
  for (const id of [...provisioned.keys()]) await deprovision(id).catch((error) => console.error(`instance ${id} may be left: ${error.message}`))
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await sleep(1500)
  const left = removeLeftovers()
  if (left > 0) console.log(`\n${left} container(s) of deprovisioned instances were still on the engine (removed now)`)
  if (pgStarted) {
    try {
      execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', `${dir}/pg/data`, '-m', 'immediate', '-w', 'stop'], {stdio: 'ignore'})
    } catch {
      // already gone
    }
  }
  rmSync(dir, {recursive: true, force: true})
  httpAgent.destroy()
}
