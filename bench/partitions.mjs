#!/usr/bin/env node
// Partitions between the broker and one host, on real processes (the multi-host harness: network
// namespaces, their own dockerds, `dbroker agent start` and `dbroker broker start`, 1 s keepalive):
// detection time (a failed broker -> agent call; heartbeat loss), rejoin time after the heal, the
// longest a sync request waited during each kind of cut (inbound dropped, link down, a cut during
// placement, which the broker answers by placing again), and how soon a followed log stream from the
// cut host ends. It runs the stories of
// test/integration/partitions.test.ts, which time themselves, and prints their numbers as a table.
// Needs root (netns, iptables), a built CLI (npm run build), PostgreSQL from Debian, dbroker/redis:7.
// Usage: node bench/partitions.mjs [--runs 1]
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const runs = Number(args[args.indexOf('--runs') + 1] || 1) || 1
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = mkdtempSync('/tmp/dbpart-')
const samples = new Map()
try {
  for (let run = 0; run < runs; run++) {
    const out = path.join(dir, `run-${run}.json`)
    execFileSync(path.join(root, 'node_modules', '.bin', 'vitest'), ['run', 'test/integration/partitions.test.ts'], {cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: {...process.env, DBROKER_BENCH_OUT: out}})
    for (const [name, ms] of Object.entries(JSON.parse(readFileSync(out, 'utf8')))) samples.set(name, [...(samples.get(name) ?? []), ms])
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
const width = Math.max(...[...samples.keys()].map((k) => k.length), 10)
console.log(`${'measure'.padEnd(width)}  ${'min ms'.padStart(8)}  ${'max ms'.padStart(8)}  runs`)
for (const [name, values] of samples) console.log(`${name.padEnd(width)}  ${String(Math.min(...values)).padStart(8)}  ${String(Math.max(...values)).padStart(8)}  ${values.length}`)
