// dbroker top with N fake instances, drawn by Ink into a fake 160x50 terminal:
// memory after the data settles, frames drawn, and CPU while nothing changes.
// Usage: npm run build && node --expose-gc bench/top-screen.js [instances=500] [seconds=60] [--changing [N]] [--interval S]
// --changing gives N instances (all without N) a new CPU sample on each refresh (a busy fleet);
// --interval is top's --interval, seconds between CPU/memory samples (5 by default).
import {EventEmitter} from 'node:events'
import {Writable} from 'node:stream'

import {render} from 'ink'
import React from 'react'

import {TopScreen} from '../dist/ui/top/screen.js'

const count = Number(process.argv[2] ?? 500)
const idleSeconds = Number(process.argv[3] ?? 60)
const flagAt = process.argv.indexOf('--changing')
const changing = flagAt >= 0
const changingCount = changing && /^\d+$/.test(process.argv[flagAt + 1] ?? '') ? Number(process.argv[flagAt + 1]) : Infinity
const intervalAt = process.argv.indexOf('--interval')
const intervalSeconds = intervalAt >= 0 ? Number(process.argv[intervalAt + 1]) : 5

const host = {
  id: 'local', status: 'alive', heartbeatAgeMs: 1000, lastHeartbeat: Date.now(), serviceAddress: '127.0.0.1', agentUrl: null,
  portRange: [40000, 40999], drained: false, zone: null, instances: count,
  facts: {engineVersion: '20.10.24', cpus: 2, memoryBytes: 24e9, containersRunning: count, registryMirrors: [], insecureRegistries: [], loggingDriver: 'json-file'},
}
const instances = Array.from({length: count}, (_, n) => ({
  id: `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`, name: `svc-${n}`, service: n % 2 ? 'postgresql' : 'redis', plan: 'small',
  serviceId: 's', planId: 'p', hostId: 'local', address: '127.0.0.1', ports: [{container: 6379, host: 40000 + n, protocol: 'tcp'}], state: 'ready',
  container: {status: 'running', health: 'healthy', restartCount: 0, startedAt: new Date(Date.now() - 3_600_000).toISOString()},
  stats: {cpuPercent: 0.3, memoryBytes: 3.5e6, memoryLimitBytes: 134e6}, limits: {cpus: 0.5, memoryBytes: 134e6}, createdAt: n,
}))

let fetches = 0
const client = {
  async hosts() { return [host] },
  async instances() {
    fetches++
    return changing
      ? instances.map((i, n) => (n < changingCount ? {...i, stats: {...i.stats, cpuPercent: Math.random() * 50}} : i))
      : instances
  },
  async instance() { throw new Error('not in this bench') },
  async *logs() {},
  async *events(signal, onOpen) { onOpen?.(); await new Promise((resolve) => signal?.addEventListener('abort', resolve)) },
  async restart() {},
  async remove() {},
}

let frames = 0
const stdout = Object.assign(new Writable({write(_chunk, _enc, done) { frames++; done() }}), {isTTY: true, columns: 160, rows: 50})
const stdin = Object.assign(new EventEmitter(), {isTTY: true, setRawMode() {}, setEncoding() {}, ref() {}, unref() {}, read() { return null }, resume() {}, pause() {}})

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const app = render(React.createElement(TopScreen, {client, target: 'bench', statsIntervalMs: intervalSeconds * 1000}), {stdout, stdin, patchConsole: false, exitOnCtrlC: false, maxFps: 15})

await new Promise((resolve) => setTimeout(resolve, 3000))
global.gc?.()
const mem = process.memoryUsage()
const framesBefore = frames
const start = cpu()
const t0 = Date.now()
await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))
const used = cpu() - start
const elapsed = Date.now() - t0
app.unmount()

const rows = [
  ['instances', String(count)],
  ['rss after settling', `${(mem.rss / 1048576).toFixed(0)} MB`],
  ['heap used', `${(mem.heapUsed / 1048576).toFixed(0)} MB`],
  [
    `CPU over ${idleSeconds} s, stats every ${intervalSeconds} s, ${changing ? `${Math.min(count, changingCount)} changing` : 'unchanged'}`,
    `${((used / elapsed) * 100).toFixed(2)} %`,
  ],
  ['frames written in that time', String(frames - framesBefore)],
  ['instance fetches in that time', String(fetches)],
]
console.log(`load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`)
for (const [k, v] of rows) console.log(`${k.padEnd(48)} ${v}`)
process.exit(0)
