#!/usr/bin/env node
// Provision latency against its raw baselines, in one run on one engine:
//   dockerode  createContainer + start of the redis image until PING answers (the engine's floor)
//   raw        `docker run -d -p` of the same until PING answers (adds the CLI process)
//   dbroker    a sync PUT /v2/service_instances until it returns (it returns once PING answers)
// one at a time and 20 at once (dockerode x20 in parallel vs 20 parallel sync PUTs),
// plus bind latency, catalog requests/s, and the resident memory of `dbroker up`
// idle and with 100 instances. Needs a built CLI (npm run build) and the images.
// Usage: node bench/provision.mjs [--runs 15] [--instances 100]
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

import Docker from 'dockerode'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const RUNS = opt('runs', 15)
const INSTANCES = opt('instances', 100)
const PARALLEL = opt('parallel', 20)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const REDIS = {service_id: 'bc8c6ef5-570d-4f7b-95fd-b6d009b47509', plan_id: '9224c565-e657-4b4e-8048-c400aea5257c'}

const docker = (...a) => execFileSync('docker', a, {encoding: 'utf8'}).trim()
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const ms = (x) => `${x.toFixed(1)} ms`

function ping(port) {
  return new Promise((resolve) => {
    const socket = connect({host: '127.0.0.1', port})
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())))
  })
}

async function rawRun(port) {
  const name = `bench-raw-${randomBytes(4).toString('hex')}`
  const t0 = performance.now()
  docker('run', '-d', '--name', name, '-p', `127.0.0.1:${port}:6379`, '-e', 'REDIS_PASSWORD=benchbenchbenchbench', '--label', 'dbroker.bench=1', 'dbroker/redis:7')
  while (!(await ping(port))) await new Promise((r) => setTimeout(r, 20))
  const elapsed = performance.now() - t0
  docker('rm', '-f', '-v', name)
  return elapsed
}

const engine = new Docker()

/** dockerode create + start until PING: what the broker asks the engine for, without the broker. */
async function dockerodeRun(port) {
  const t0 = performance.now()
  const container = await engine.createContainer({
    Image: 'dbroker/redis:7',
    name: `bench-api-${randomBytes(4).toString('hex')}`,
    Env: ['REDIS_PASSWORD=benchbenchbenchbench'],
    Labels: {'dbroker.bench': '1'},
    ExposedPorts: {'6379/tcp': {}},
    HostConfig: {PortBindings: {'6379/tcp': [{HostIp: '127.0.0.1', HostPort: String(port)}]}},
  })
  await container.start()
  while (!(await ping(port))) await new Promise((r) => setTimeout(r, 20))
  const elapsed = performance.now() - t0
  return {elapsed, remove: () => container.remove({force: true, v: true})}
}

/** Wall time until all of n dockerode create + starts answer PING. */
async function dockerodeParallel(n, firstPort) {
  const t0 = performance.now()
  const runs = await Promise.all(Array.from({length: n}, (_, i) => dockerodeRun(firstPort + i)))
  const elapsed = performance.now() - t0
  await Promise.all(runs.map((r) => r.remove()))
  return elapsed
}

async function startUp(dataDir, extra = [], portRange = '43000-43999') {
  // The CLI context `up` writes goes inside the temp data dir, not the user's config.
  const env = {...process.env, XDG_CONFIG_HOME: path.join(dataDir, 'config')}
  const child = spawn(process.execPath, [path.join(root, 'bin/run.js'), 'up', '--json', '--port', '0', '--data-dir', dataDir, '--port-range', portRange, '--log-level', 'warn', ...extra], {stdio: ['ignore', 'pipe', 'inherit'], env})
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const line = await new Promise((resolve, reject) => {
    createInterface({input: child.stdout}).once('line', resolve)
    child.on('exit', (code) => setTimeout(() => reject(new Error(`up exited with ${code}: ${out}`)), 100))
  })
  try {
    return {child, ...JSON.parse(line)}
  } catch {
    await new Promise((r) => child.on('exit', r))
    throw new Error(`up did not start: ${out}`)
  }
}

/** startUp that removes its data dir when up fails to start, so a failed bench leaves nothing. */
async function startUpOrClean(dataDir, ...rest) {
  try {
    return await startUp(dataDir, ...rest)
  } catch (error) {
    rmSync(dataDir, {recursive: true, force: true})
    throw error
  }
}

/** Bind latency when every binding shares the instance's user: no exec in the container. */
async function sharedBind(runs) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-shared-'))
  const catalog = path.join(dataDir, 'catalog.yml')
  writeFileSync(
    catalog,
    readFileSync(path.join(root, 'images/catalog.yml'), 'utf8')
      .replaceAll('binding_credentials: per-binding', 'binding_credentials: shared')
      .replace(/build: (redis|postgresql)$/gm, (_, d) => `build: ${path.join(root, 'images', d)}`),
  )
  const up = await startUpOrClean(dataDir, ['--catalog', catalog], '44000-44099')
  const headers = {authorization: `Basic ${Buffer.from(`${up.username}:${up.password}`).toString('base64')}`, 'x-broker-api-version': '2.17', 'content-type': 'application/json'}
  const id = `bench-${randomBytes(4).toString('hex')}`
  const put = (p, body) => fetch(`${up.url}${p}`, {method: 'PUT', headers, body: JSON.stringify(body)}).then((r) => r.text())
  const times = []
  try {
    await put(`/v2/service_instances/${id}`, {...REDIS, organization_guid: 'o', space_guid: 's'})
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now()
      await put(`/v2/service_instances/${id}/service_bindings/${id}-${i}`, REDIS)
      times.push(performance.now() - t0)
    }
  } finally {
    await fetch(`${up.url}/v2/service_instances/${id}?service_id=${REDIS.service_id}&plan_id=${REDIS.plan_id}`, {method: 'DELETE', headers})
    up.child.kill('SIGTERM')
    await new Promise((r) => up.child.on('exit', r))
    rmSync(dataDir, {recursive: true, force: true})
  }
  return times
}

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-'))
  const up = await startUpOrClean(dataDir)
  const auth = `Basic ${Buffer.from(`${up.username}:${up.password}`).toString('base64')}`
  const headers = {authorization: auth, 'x-broker-api-version': '2.17', 'content-type': 'application/json'}
  const request = async (method, p, body) => {
    const r = await fetch(`${up.url}${p}`, {method, headers, body: body && JSON.stringify(body)})
    const text = await r.text()
    if (r.status >= 300) throw new Error(`${method} ${p} -> ${r.status} ${text}`)
    return JSON.parse(text)
  }
  const ids = []
  try {
    await new Promise((r) => setTimeout(r, 2000))
    const idleRss = rss(up.child.pid)

    // Warm both paths once so neither pays for a cold page cache.
    await rawRun(44999)
    const raw = []
    const api = []
    const prov = []
    const bind = []
    for (let i = 0; i < RUNS; i++) {
      raw.push(await rawRun(44990))
      const one = await dockerodeRun(44991)
      api.push(one.elapsed)
      await one.remove()
      const id = `bench-${randomBytes(4).toString('hex')}`
      ids.push(id)
      const t0 = performance.now()
      await request('PUT', `/v2/service_instances/${id}`, {...REDIS, organization_guid: 'o', space_guid: 's'})
      prov.push(performance.now() - t0)
    }
    // Binds land on instances that have been up a moment, as a platform's do: their spare users are ready.
    await new Promise((r) => setTimeout(r, 2000))
    for (const id of ids) {
      const t0 = performance.now()
      await request('PUT', `/v2/service_instances/${id}/service_bindings/${id}-b`, REDIS)
      bind.push(performance.now() - t0)
      // Each bind starts a refill (a docker exec); space binds so one's refill doesn't weigh on the next's timing.
      await new Promise((r) => setTimeout(r, 500))
    }
    // Back to back on one instance: once its two spares are gone, binds wait for the exec.
    const burst = []
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now()
      await request('PUT', `/v2/service_instances/${ids[0]}/service_bindings/${ids[0]}-burst-${i}`, REDIS)
      burst.push(performance.now() - t0)
    }

    // 20 at once: the engine's own parallel floor, then the broker's, alternating twice.
    const apiParallel = []
    const provParallel = []
    for (let round = 0; round < 2; round++) {
      apiParallel.push(await dockerodeParallel(PARALLEL, 44900))
      const batch = Array.from({length: PARALLEL}, () => `bench-${randomBytes(4).toString('hex')}`)
      ids.push(...batch)
      const t0 = performance.now()
      await Promise.all(batch.map((id) => request('PUT', `/v2/service_instances/${id}`, {...REDIS, organization_guid: 'o', space_guid: 's'})))
      provParallel.push(performance.now() - t0)
    }

    const shared = await sharedBind(Math.max(RUNS, 20))

    let catalogRps = NaN
    try {
      const out = execFileSync('wrk', ['-t2', '-c32', '-d5s', '-H', `Authorization: ${auth}`, '-H', 'X-Broker-API-Version: 2.17', `${up.url}/v2/catalog`], {encoding: 'utf8'})
      catalogRps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1])
    } catch {
      console.error('wrk not found (apt-get install wrk): catalog throughput skipped')
    }

    while (ids.length < INSTANCES) {
      const batch = Array.from({length: Math.min(10, INSTANCES - ids.length)}, () => `bench-${randomBytes(4).toString('hex')}`)
      ids.push(...batch)
      await Promise.all(batch.map((id) => request('PUT', `/v2/service_instances/${id}`, {...REDIS, organization_guid: 'o', space_guid: 's'})))
    }
    await new Promise((r) => setTimeout(r, 6000))
    const fullRss = rss(up.child.pid)

    const rows = [
      ['dockerode create+start until PING', ms(quantile(api, 0.5)), ms(quantile(api, 0.95)), 'the engine floor'],
      ['raw docker run -d -p until PING', ms(quantile(raw, 0.5)), ms(quantile(raw, 0.95)), ''],
      ['sync provision (PUT) until 201', ms(quantile(prov, 0.5)), ms(quantile(prov, 0.95)), `${(quantile(prov, 0.5) / quantile(api, 0.5)).toFixed(2)} x dockerode (target <= 1.05)`],
      [`dockerode x${PARALLEL} in parallel, all PING`, ms(Math.min(...apiParallel)), ms(Math.max(...apiParallel)), 'best / worst of 2'],
      [`${PARALLEL} sync provisions at once, all 201`, ms(Math.min(...provParallel)), ms(Math.max(...provParallel)), `${(Math.min(...provParallel) / Math.min(...apiParallel)).toFixed(2)} x dockerode (target <= 1.15)`],
      ['bind (PUT, per-binding user)', ms(quantile(bind, 0.5)), ms(quantile(bind, 0.95)), 'a spare user made ahead, binds 0.5 s apart; target p50 < 10 ms'],
      ['bind, 6 back to back on one instance', ms(quantile(burst, 0.5)), ms(Math.max(...burst)), 'past 2 spares each waits for docker exec'],
      ['bind (PUT, shared credentials)', ms(quantile(shared, 0.5)), ms(quantile(shared, 0.95)), 'every binding gets the instance user'],
      ['catalog GET', `${Math.round(catalogRps)} req/s`, '', 'target >= 10,000'],
      ['up RSS idle', `${idleRss.toFixed(0)} MB`, '', ''],
      [`up RSS with ${ids.length} instances`, `${fullRss.toFixed(0)} MB`, '', 'target < 150 MB'],
    ]
    console.log(`\nprovision benchmark, ${RUNS} runs each (the x${PARALLEL} rows: best and worst of 2), engine ${docker('version', '--format', '{{.Server.Version}}')}\n`)
    const widths = [0, 1, 2, 3].map((c) => Math.max(...[['measure', 'p50', 'p95', 'note'], ...rows].map((r) => r[c].length)))
    for (const r of [['measure', 'p50', 'p95', 'note'], ...rows]) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '))
  } finally {
    await Promise.all(ids.map((id) => request('DELETE', `/v2/service_instances/${id}?service_id=${REDIS.service_id}&plan_id=${REDIS.plan_id}`).catch(() => undefined)))
    up.child.kill('SIGTERM')
    await new Promise((r) => up.child.on('exit', r))
    rmSync(dataDir, {recursive: true, force: true})
    try {
      const left = docker('ps', '-aq', '--filter', 'label=dbroker.bench=1')
      if (left) docker('rm', '-f', '-v', ...left.split('\n'))
    } catch {}
  }
}

await main()
