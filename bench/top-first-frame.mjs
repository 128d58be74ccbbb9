#!/usr/bin/env node
// How long `dbroker top` takes to show rows with data, in a real terminal (tmux at 80x24 and 160x45),
// beside `dbroker instances` (the same data as a table, no screen) in the same run.
// Needs a built CLI, tmux, and a running broker behind a context: `dbroker up` (the default
// context) or --context NAME. Usage: node bench/top-first-frame.mjs [--context NAME] [--runs 5]
import {execFileSync, spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback)
const context = flag('--context', undefined)
const runs = Number(flag('--runs', 5))
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cli = [process.execPath, path.join(root, 'bin/run.js')]
const withContext = context ? ['--context', context] : []
const tmux = (...a) => execFileSync('tmux', a, {encoding: 'utf8'})

const listed = JSON.parse(execFileSync(cli[0], [...cli.slice(1), 'instances', '--json', ...withContext], {encoding: 'utf8'}))
const names = listed.result.map((i) => i.name ?? i.id.slice(0, 8))
if (names.length === 0) throw new Error('the broker has no instances: provision one first (dbroker provision redis)')
const firstName = names.sort()[0]

function timeInstances() {
  const started = process.hrtime.bigint()
  const result = spawnSync(cli[0], [...cli.slice(1), 'instances', ...withContext], {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(result.stderr)
  return Number(process.hrtime.bigint() - started) / 1e6
}

async function timeTop(width, height) {
  const session = `bench-top-${process.pid}`
  const command = [...cli, 'top', ...withContext].map((a) => `'${a}'`).join(' ')
  const started = process.hrtime.bigint()
  tmux('new-session', '-d', '-s', session, '-x', String(width), '-y', String(height), command)
  try {
    for (;;) {
      const screen = tmux('capture-pane', '-p', '-t', session)
      // Data has arrived when the first instance's row and the host's engine version are on screen.
      if (screen.includes(firstName) && /alive/.test(screen)) return Number(process.hrtime.bigint() - started) / 1e6
      if (Number(process.hrtime.bigint() - started) > 30e9) throw new Error(`top showed no rows in 30 s:\n${screen}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session])
  }
}

// One session holds the tmux server up between runs: a new session started just as the last one's
// kill-session brings its server down fails with "server exited unexpectedly".
const holder = `bench-top-hold-${process.pid}`
tmux('new-session', '-d', '-s', holder, 'sleep 3600')
process.on('exit', () => spawnSync('tmux', ['kill-session', '-t', holder]))

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = {instances: [], top80: [], top160: []}
for (let run = 0; run < runs; run++) {
  results.instances.push(timeInstances())
  results.top80.push(await timeTop(80, 24))
  results.top160.push(await timeTop(160, 45))
}
const rows = [
  ['what', 'median', 'min', 'max', 'vs instances'],
  ...[
    ['dbroker instances (table)', results.instances],
    ['dbroker top, first rows 80x24', results.top80],
    ['dbroker top, first rows 160x45', results.top160],
  ].map(([what, xs]) => [
    what,
    `${median(xs).toFixed(0)} ms`,
    `${Math.min(...xs).toFixed(0)} ms`,
    `${Math.max(...xs).toFixed(0)} ms`,
    `${(median(xs) / median(results.instances)).toFixed(2)} x`,
  ]),
]
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
console.log(`\ndbroker top: first frame with data, ${runs} runs, ${names.length} instances, load ${(await import('node:os')).loadavg()[0].toFixed(1)}\n`)
for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
