#!/usr/bin/env node
// Failure -> serving again, after kill -9 of a redis container's main process from the host (run as root):
//   docker policy  the container alone with --restart unless-stopped, no agent: the engine restarts it
//   dbroker        the same spec under the agent's supervisor (engine events -> convergence loop),
//                  the restart policy kept as the fallback for a stopped agent
// each for one container and for one with two dependents (dependsOn). "Serving again" is redis answering
// PING and, with dependents, both of them running again since after the kill (the engine's policy never
// restarts a dependent: that row says so). p50/p90 over --kills kills, 1.5 s apart so each kill is a first
// failure (the supervision window is 1 s here; backoff is for repeated failures). Needs `npm run build`.
// Usage: node bench/supervisor.mjs [--kills 12]
import {randomBytes} from 'node:crypto'
import {connect} from 'node:net'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const load = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href)
const {DockerAgent} = await load('agent/docker-agent.js')
const {superviseHost} = await load('agent/supervised-host.js')
const {connectEngine} = await load('docker/engine.js')
const {createLogger} = await load('core/log.js')

const args = process.argv.slice(2)
const i = args.indexOf('--kills')
const KILLS = i >= 0 ? Number(args[i + 1]) : 12
const PORT = 47390
const engine = connectEngine()
const installation = randomBytes(6).toString('hex')
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function ping(port) {
  return new Promise((resolve) => {
    const socket = connect({host: '127.0.0.1', port})
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())))
  })
}

const id = (kind) => `bench-${kind}-${randomBytes(3).toString('hex')}`
const redisSpec = (instanceId) => ({
  instanceId,
  name: `dbroker-${instanceId}`,
  image: 'dbroker/redis:7',
  env: {REDIS_PASSWORD: randomBytes(12).toString('hex')},
  ports: [{container: 6379, host: PORT, protocol: 'tcp'}],
  bindAddress: '127.0.0.1',
  volumes: [{name: `dbroker-${instanceId}-data`, path: '/data'}],
  restart: 'unless-stopped',
  labels: {},
  readiness: {probe: 'tcp', port: 6379, send: 'PING\r\n', expect: '^(\\+PONG|-NOAUTH)', timeoutMs: 30_000},
  hooks: {},
  supervision: {maxRestarts: 1000, windowMs: 1000},
})
const dependentSpec = (instanceId, dependency) => ({
  instanceId,
  name: `dbroker-${instanceId}`,
  image: 'debian:bookworm-slim',
  command: ['sh', '-c', "trap 'exit 0' TERM; while :; do sleep 0.05; done"],
  env: {},
  ports: [],
  bindAddress: '127.0.0.1',
  volumes: [],
  restart: 'unless-stopped',
  labels: {},
  readiness: {probe: 'none', timeoutMs: 0},
  hooks: {},
  dependsOn: [dependency],
})

const inspect = (name) => engine.getContainer(name).inspect()

/** Kills the main process, then waits until redis answers and every dependent runs since after the kill. */
async function killAndWait(name, dependents, deadlineMs = 20_000) {
  let before = await inspect(name)
  // Pid 0 (not running yet) would make process.kill signal this process's own group.
  for (let waited = 0; !(before.State.Running && before.State.Pid > 0) && waited < 10_000; waited += 50) {
    await sleep(50)
    before = await inspect(name)
  }
  if (!(before.State.Pid > 0)) throw new Error(`${name} is not running: ${before.State.Status}`)
  const t0 = Date.now()
  process.kill(before.State.Pid, 'SIGKILL')
  for (;;) {
    const elapsed = Date.now() - t0
    if (elapsed > deadlineMs) return undefined
    const served = (await inspect(name)).State.StartedAt !== before.State.StartedAt && (await ping(PORT))
    if (served) {
      const states = await Promise.all(dependents.map((d) => inspect(d)))
      if (states.every((s) => s.State.Running && Date.parse(s.State.StartedAt) >= t0)) return Date.now() - t0
    }
    await sleep(5)
  }
}

async function measure(label, name, dependents, deadlineMs, gapMs = 1500) {
  const times = []
  let never = 0
  for (let k = 0; k < KILLS; k++) {
    await sleep(gapMs)
    const t = await killAndWait(name, dependents, deadlineMs)
    if (t === undefined) never++
    else times.push(t)
  }
  return {label, times, never}
}

/** The engine's policy alone: the same containers made by the agent, then no agent watching. */
async function dockerPolicy(withDependents) {
  const host = superviseHost(new DockerAgent(engine, {installation}), createLogger(process.env.BENCH_LOG ?? 'silent'))
  const r = redisSpec(id('r'))
  const deps = withDependents ? [dependentSpec(id('d'), r.instanceId), dependentSpec(id('d'), r.instanceId)] : []
  host.loop.want({specs: [r, ...deps], asOf: host.agent.currentGeneration()})
  await host.loop.settled()
  await host.stop() // nobody watches from here: only the engine's restart policy
  const label = `docker policy${withDependents ? ', 2 dependents' : ''}`
  try {
    // The engine never restarts a dependent: 5 s shows that as well as 20 would.
    return await measure(
      label,
      r.name,
      deps.map((d) => d.name),
      withDependents ? 5000 : undefined,
      // The engine doubles its delay for a container that ran less than 10 s: 11 s apart, each kill is its first.
      11_000,
    )
  } finally {
    const cleanup = superviseHost(
      new DockerAgent(engine, {installation}),
      createLogger(process.env.BENCH_LOG ?? 'silent'),
    )
    for (const s of [r, ...deps]) await cleanup.agent.remove(s.instanceId)
    await cleanup.stop()
  }
}

async function supervised(withDependents) {
  const host = superviseHost(new DockerAgent(engine, {installation}), createLogger(process.env.BENCH_LOG ?? 'silent'))
  host.watch(installation)
  const r = redisSpec(id('r'))
  const deps = withDependents ? [dependentSpec(id('d'), r.instanceId), dependentSpec(id('d'), r.instanceId)] : []
  host.loop.want({specs: [r, ...deps], asOf: host.agent.currentGeneration()})
  await host.loop.settled()
  try {
    return await measure(
      `dbroker supervisor${withDependents ? ', 2 dependents' : ''}`,
      r.name,
      deps.map((d) => d.name),
    )
  } finally {
    for (const s of [r, ...deps]) await host.agent.remove(s.instanceId)
    await host.stop()
  }
}

const rows = []
try {
  rows.push(await dockerPolicy(false))
  rows.push(await supervised(false))
  rows.push(await dockerPolicy(true))
  rows.push(await supervised(true))
} finally {
  await new DockerAgent(engine, {installation}).releaseNetwork().catch(() => undefined)
}

const fmt = (x) => (x === undefined ? '-' : `${x} ms`)
console.log(`\nfailure (kill -9 of redis) -> serving again, ${KILLS} kills each\n`)
console.log(
  `${'setup'.padEnd(34)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'max'.padStart(9)}  not served (20 s; 5 s policy+dependents)`,
)
for (const r of rows)
  console.log(
    `${r.label.padEnd(34)} ${fmt(quantile(r.times, 0.5)).padStart(9)} ${fmt(quantile(r.times, 0.9)).padStart(9)} ${fmt(r.times.length ? Math.max(...r.times) : undefined).padStart(9)}  ${r.never}`,
  )
