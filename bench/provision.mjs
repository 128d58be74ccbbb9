#!/usr/bin/env node
// Provision latency against its raw baselines, in one run on one engine:
//   dockerode  createContainer + start of the redis image until PING answers (the engine's floor)
//   raw        `docker run -d -p` of the same until PING answers (adds the CLI process)
//   dbroker    a sync PUT /v2/service_instances until it returns (it returns once PING answers)
// one at a time and 20 at once (dockerode x20 in parallel vs 20 parallel sync PUTs),
// plus bind latency and the resident memory of `dbroker up` idle and with 100 instances.
// Each round measures every pair back to back (the machine may be shared: the ratio is
// taken per round), then prints the median and spread of the ratios and the load average.
// Needs a built CLI (npm run build) and the images. --json prints the ratios for bench/all.mjs.
// Usage: node bench/provision.mjs [--rounds 3] [--singles 5] [--parallel 20] [--instances 100] [--json]
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

import Database from 'better-sqlite3'
import Docker from 'dockerode'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const ROUNDS = opt('rounds', 3)
const SINGLES = opt('singles', 5)
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
  docker(
    'run',
    '-d',
    '--name',
    name,
    '-p',
    `127.0.0.1:${port}:6379`,
    '-e',
    'REDIS_PASSWORD=benchbenchbenchbench',
    '--label',
    'dbroker.bench=1',
    '--network',
    BENCH_NETWORK,
    'dbroker/redis:7',
  )
  while (!(await ping(port))) await new Promise((r) => setTimeout(r, 20))
  const elapsed = performance.now() - t0
  docker('rm', '-f', '-v', name)
  return elapsed
}

const engine = new Docker()
/** The baselines' own bridge: the engine's default one is shared with everyone's tests (and has been seen missing). */
const BENCH_NETWORK = `dbroker-bench-${process.pid}`

const plainOptions = (port, name) => ({
  Image: 'dbroker/redis:7',
  name,
  Env: ['REDIS_PASSWORD=benchbenchbenchbench'],
  Labels: {'dbroker.bench': '1'},
  ExposedPorts: {'6379/tcp': {}},
  HostConfig: {NetworkMode: BENCH_NETWORK, PortBindings: {'6379/tcp': [{HostIp: '127.0.0.1', HostPort: String(port)}]}},
})

/**
 * The create options of a container the broker made, as the engine reports them: its network,
 * named volume, limits and confinement, on another port and volume. Dockerode with these is the
 * engine's floor for the broker's container; the broker's own cost is what it takes beyond that.
 */
async function brokerOptions(instanceId) {
  const [listed] = await engine.listContainers({all: true, filters: {label: [`dbroker.instance=${instanceId}`]}})
  const info = await engine.getContainer(listed.Id).inspect()
  const h = info.HostConfig
  const [exposed] = Object.keys(info.Config.ExposedPorts)
  return (port, name) => ({
    Image: info.Config.Image,
    name,
    Env: info.Config.Env,
    Cmd: info.Config.Cmd,
    Entrypoint: info.Config.Entrypoint,
    Labels: {'dbroker.bench': '1'},
    ExposedPorts: info.Config.ExposedPorts,
    HostConfig: {
      ...Object.fromEntries(
        [
          'NetworkMode',
          'Memory',
          'MemorySwap',
          'NanoCpus',
          'RestartPolicy',
          'CapDrop',
          'CapAdd',
          'SecurityOpt',
          'PidsLimit',
          'ReadonlyRootfs',
          'Tmpfs',
          'LogConfig',
        ].map((k) => [k, h[k]]),
      ),
      PortBindings: {[exposed]: [{HostIp: '127.0.0.1', HostPort: String(port)}]},
      Mounts: info.Mounts.filter((m) => m.Type === 'volume').map((m, k) => ({
        Type: 'volume',
        Source: `${name}-${k}`,
        Target: m.Destination,
        VolumeOptions: {Labels: {'dbroker.bench': '1'}},
      })),
    },
  })
}

/** dockerode create + start until PING: what the broker asks the engine for, without the broker. */
async function dockerodeRun(port, options = plainOptions) {
  const t0 = performance.now()
  const create = options(port, `bench-api-${randomBytes(4).toString('hex')}`)
  const container = await engine.createContainer(create)
  await container.start()
  while (!(await ping(port))) await new Promise((r) => setTimeout(r, 20))
  const elapsed = performance.now() - t0
  const remove = async () => {
    await container.remove({force: true, v: true})
    for (const m of create.HostConfig.Mounts ?? []) await engine.getVolume(m.Source).remove()
  }
  return {elapsed, remove}
}

/** Wall time until all of n dockerode create + starts answer PING. */
async function dockerodeParallel(n, firstPort, options) {
  const t0 = performance.now()
  const runs = await Promise.all(Array.from({length: n}, (_, i) => dockerodeRun(firstPort + i, options)))
  const elapsed = performance.now() - t0
  await Promise.all(runs.map((r) => r.remove()))
  return elapsed
}

async function startUp(dataDir, extra = [], portRange = '43000-43999') {
  // The CLI context `up` writes goes inside the temp data dir, not the user's config.
  const env = {...process.env, XDG_CONFIG_HOME: path.join(dataDir, 'config')}
  const child = spawn(
    process.execPath,
    [
      path.join(root, 'bin/run.js'),
      'up',
      '--json',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--port-range',
      portRange,
      '--log-level',
      'warn',
      ...extra,
    ],
    {stdio: ['ignore', 'pipe', 'inherit'], env},
  )
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
  const headers = {
    authorization: `Basic ${Buffer.from(`${up.username}:${up.password}`).toString('base64')}`,
    'x-broker-api-version': '2.17',
    'content-type': 'application/json',
  }
  const id = `bench-${randomBytes(4).toString('hex')}`
  const put = (p, body) =>
    fetch(`${up.url}${p}`, {method: 'PUT', headers, body: JSON.stringify(body)}).then((r) => r.text())
  const times = []
  try {
    await put(`/v2/service_instances/${id}`, {...REDIS, organization_guid: 'o', space_guid: 's'})
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now()
      await put(`/v2/service_instances/${id}/service_bindings/${id}-${i}`, REDIS)
      times.push(performance.now() - t0)
    }
  } finally {
    await fetch(`${up.url}/v2/service_instances/${id}?service_id=${REDIS.service_id}&plan_id=${REDIS.plan_id}`, {
      method: 'DELETE',
      headers,
    })
    up.child.kill('SIGTERM')
    await new Promise((r) => up.child.on('exit', r))
    rmSync(dataDir, {recursive: true, force: true})
  }
  return times
}

/** Waits (up to 60 s) until every instance in `ids` has its two spare users in up's SQLite store. */
async function sparesReady(dataDir, ids) {
  const db = new Database(path.join(dataDir, 'dbroker.db'), {readonly: true, fileMustExist: true})
  try {
    const count = db.prepare('SELECT count(*) AS n FROM spare_users WHERE instance_id = ?')
    const deadline = Date.now() + 60_000
    while (ids.some((id) => count.get(id).n < 2)) {
      if (Date.now() > deadline) throw new Error(`spare users not ready after 60 s for ${ids.join(', ')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    db.close()
  }
}

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024

const median = (xs) => quantile(xs, 0.5)
const spread = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`

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
  const provision = (id) =>
    request('PUT', `/v2/service_instances/${id}`, {...REDIS, organization_guid: 'o', space_guid: 's'})
  const deprovision = (id) =>
    request('DELETE', `/v2/service_instances/${id}?service_id=${REDIS.service_id}&plan_id=${REDIS.plan_id}`)
  const newId = () => `bench-${randomBytes(4).toString('hex')}`
  const ids = []
  const load = []
  try {
    await engine.createNetwork({Name: BENCH_NETWORK, Driver: 'bridge', Labels: {'dbroker.bench': '1'}})
    await new Promise((r) => setTimeout(r, 2000))
    const idleRss = rss(up.child.pid)

    // Warm every path once so none pays for a cold page cache.
    await rawRun(44999)
    await (await dockerodeRun(44991)).remove()
    const warm = newId()
    await provision(warm)
    const hardened = await brokerOptions(warm)
    await deprovision(warm)
    await (await dockerodeRun(44991, hardened)).remove()

    // Each round measures every pair back to back, under the same neighbours; the ratio is taken per round.
    const rounds = []
    for (let round = 0; round < ROUNDS; round++) {
      load.push(loadavg()[0])
      const raw = []
      const api = []
      const same = []
      const prov = []
      const roundIds = []
      for (let i = 0; i < SINGLES; i++) {
        raw.push(await rawRun(44990))
        const one = await dockerodeRun(44991)
        api.push(one.elapsed)
        await one.remove()
        const like = await dockerodeRun(44992, hardened)
        same.push(like.elapsed)
        await like.remove()
        const id = newId()
        ids.push(id)
        roundIds.push(id)
        const t0 = performance.now()
        await provision(id)
        prov.push(performance.now() - t0)
      }
      const apiParallel = await dockerodeParallel(PARALLEL, 44900)
      const sameParallel = await dockerodeParallel(PARALLEL, 44930, hardened)
      const batch = Array.from({length: PARALLEL}, newId)
      ids.push(...batch)
      const t0 = performance.now()
      await Promise.all(batch.map(provision))
      const provParallel = performance.now() - t0

      // Binds land on instances that have been up a moment, as a platform's do: their spare users are ready
      // (read from up's store; the broker makes them once no provision is starting on the host).
      await sparesReady(dataDir, [...roundIds, ...batch])
      const bind = []
      for (const id of roundIds) {
        const t1 = performance.now()
        await request('PUT', `/v2/service_instances/${id}/service_bindings/${id}-b`, REDIS)
        bind.push(performance.now() - t1)
        // Each bind starts a refill (a docker exec); space binds so one's refill doesn't weigh on the next's timing.
        await new Promise((r) => setTimeout(r, 500))
      }
      rounds.push({
        raw: median(raw),
        api: median(api),
        same: median(same),
        prov: median(prov),
        apiParallel,
        sameParallel,
        provParallel,
        bind,
      })
      // Gone before the next round, so every round starts from the same engine.
      if (round < ROUNDS - 1 || INSTANCES === 0) {
        await Promise.all([...roundIds, ...batch].map(deprovision))
        ids.splice(0, ids.length)
      }
    }
    load.push(loadavg()[0])

    const JSON_OUT = args.includes('--json')
    // Back to back on one instance: once its two spares are gone, binds wait for the exec.
    const burst = []
    const burstId = newId()
    ids.push(burstId)
    if (!JSON_OUT) await provision(burstId)
    await new Promise((r) => setTimeout(r, JSON_OUT ? 0 : 2000))
    for (let i = 0; i < (JSON_OUT ? 0 : 6); i++) {
      const t0 = performance.now()
      await request('PUT', `/v2/service_instances/${burstId}/service_bindings/${burstId}-burst-${i}`, REDIS)
      burst.push(performance.now() - t0)
    }

    const shared = JSON_OUT ? [] : await sharedBind(Math.max(SINGLES, 20))

    let fullRss
    if (INSTANCES > 0) {
      while (ids.length < INSTANCES) {
        const batch = Array.from({length: Math.min(10, INSTANCES - ids.length)}, newId)
        ids.push(...batch)
        await Promise.all(batch.map(provision))
      }
      await new Promise((r) => setTimeout(r, 6000))
      fullRss = rss(up.child.pid)
    }

    const single = rounds.map((r) => r.prov / r.api)
    const parallel = rounds.map((r) => r.provParallel / r.apiParallel)
    const bindP50 = rounds.map((r) => median(r.bind))
    const singleSame = rounds.map((r) => r.prov / r.same)
    const parallelSame = rounds.map((r) => r.provParallel / r.sameParallel)
    const result = {
      rounds: ROUNDS,
      load,
      singleRatio: {median: median(single), min: Math.min(...single), max: Math.max(...single)},
      parallelRatio: {median: median(parallel), min: Math.min(...parallel), max: Math.max(...parallel)},
      bindP50Ms: {median: median(bindP50), min: Math.min(...bindP50), max: Math.max(...bindP50)},
      singleSameOptionsRatio: median(singleSame),
      parallelSameOptionsRatio: median(parallelSame),
      perRound: rounds.map((r) => ({...r, bind: undefined, bindP50: median(r.bind)})),
    }
    if (JSON_OUT) {
      console.log(JSON.stringify(result))
      return
    }
    const rows = [
      ...rounds.flatMap((r, k) => [
        [`round ${k + 1}: dockerode create+start until PING`, ms(r.api), '', `median of ${SINGLES}; the engine floor`],
        [`round ${k + 1}: raw docker run -d -p until PING`, ms(r.raw), '', ''],
        [
          `round ${k + 1}: dockerode with the broker's options`,
          ms(r.same),
          '',
          'its network, volume, limits, confinement',
        ],
        [`round ${k + 1}: sync provision (PUT) until 201`, ms(r.prov), '', `${single[k].toFixed(2)} x dockerode`],
        [`round ${k + 1}: dockerode x${PARALLEL} in parallel, all PING`, ms(r.apiParallel), '', ''],
        [`round ${k + 1}: dockerode x${PARALLEL}, the broker's options`, ms(r.sameParallel), '', ''],
        [
          `round ${k + 1}: ${PARALLEL} sync provisions at once, all 201`,
          ms(r.provParallel),
          '',
          `${parallel[k].toFixed(2)} x dockerode`,
        ],
        [
          `round ${k + 1}: bind with a spare user ready`,
          ms(median(r.bind)),
          ms(quantile(r.bind, 0.95)),
          `${r.bind.length} binds 0.5 s apart`,
        ],
      ]),
      [
        'single provision / dockerode',
        `${median(single).toFixed(2)} x`,
        '',
        `spread ${spread(single)}; target <= 1.05`,
      ],
      [
        `${PARALLEL} at once / dockerode x${PARALLEL}`,
        `${median(parallel).toFixed(2)} x`,
        '',
        `spread ${spread(parallel)}; target <= 1.15`,
      ],
      [
        'single provision / dockerode, broker options',
        `${median(singleSame).toFixed(2)} x`,
        '',
        `spread ${spread(singleSame)}: the broker's own cost`,
      ],
      [
        `${PARALLEL} at once / dockerode x${PARALLEL}, broker options`,
        `${median(parallelSame).toFixed(2)} x`,
        '',
        `spread ${spread(parallelSame)}`,
      ],
      ['bind with a spare user ready, p50', ms(median(bindP50)), '', `spread ${spread(bindP50)} ms; target < 10 ms`],
      [
        'bind, 6 back to back on one instance',
        ms(quantile(burst, 0.5)),
        ms(Math.max(...burst)),
        'past 2 spares each waits for docker exec',
      ],
      [
        'bind (PUT, shared credentials)',
        ms(quantile(shared, 0.5)),
        ms(quantile(shared, 0.95)),
        'every binding gets the instance user',
      ],
      ['up RSS idle', `${idleRss.toFixed(0)} MB`, '', ''],
      ...(fullRss === undefined
        ? []
        : [[`up RSS with ${ids.length} instances`, `${fullRss.toFixed(0)} MB`, '', 'target < 150 MB']]),
    ]
    console.log(
      `\nprovision benchmark, ${ROUNDS} rounds of ${SINGLES} singles and ${PARALLEL} at once, engine ${docker('version', '--format', '{{.Server.Version}}')}, load average ${load.map((l) => l.toFixed(2)).join(' → ')}\n`,
    )
    const widths = [0, 1, 2, 3].map((c) =>
      Math.max(...[['measure', 'p50', 'p95', 'note'], ...rows].map((r) => r[c].length)),
    )
    for (const r of [['measure', 'p50', 'p95', 'note'], ...rows])
      console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '))
  } finally {
    await Promise.all(ids.map((id) => deprovision(id).catch(() => undefined)))
    up.child.kill('SIGTERM')
    await new Promise((r) => up.child.on('exit', r))
    rmSync(dataDir, {recursive: true, force: true})
    try {
      const left = docker('ps', '-aq', '--filter', 'label=dbroker.bench=1')
      if (left) docker('rm', '-f', '-v', ...left.split('\n'))
    } catch {}
    await engine
      .getNetwork(BENCH_NETWORK)
      .remove()
      .catch(() => undefined)
  }
}

await main()
