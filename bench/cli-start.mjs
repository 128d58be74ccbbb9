#!/usr/bin/env node
// Cold start of `dbroker --help` against a bare oclif 4 CLI with one command
// (bench/bare-oclif: the same @oclif/core; the plugin-help it names is not found from its
// folder, so it loads no plugin, as dbroker, whose `help` is a command of its own, does not),
// timed by hyperfine in one run, with the load average beside the numbers. Needs a built CLI (npm run build) and hyperfine (apt-get install hyperfine).
// Usage: node bench/cli-start.mjs [--runs 20] [--json]
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const i = args.indexOf('--runs')
const RUNS = i >= 0 ? Number(args[i + 1]) : 20
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const node = process.execPath
const commands = [
  ['bare oclif --help', `${node} ${path.join(root, 'bench/bare-oclif/bin/run.js')} --help`],
  ['dbroker --help', `${node} ${path.join(root, 'bin/run.js')} --help`],
  ['dbroker bind --help', `${node} ${path.join(root, 'bin/run.js')} bind --help`],
]
const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-cli-'))
try {
  const out = path.join(dir, 'hyperfine.json')
  execFileSync(
    'hyperfine',
    ['-N', '--warmup', '3', '--runs', String(RUNS), '--export-json', out, ...commands.map(([, c]) => c)],
    {stdio: ['ignore', 'ignore', 'inherit']},
  )
  const results = JSON.parse(readFileSync(out, 'utf8')).results
  const base = results[0].mean
  // CPU time (user + system) as well: on the shared machine the wall time swings with the load, CPU time much less.
  const cpu = (r) => r.user + r.system
  const baseCpu = cpu(results[0])
  if (args.includes('--json')) {
    console.log(
      JSON.stringify({
        bare: results[0].mean,
        dbroker: results[1].mean,
        ratio: results[1].mean / base,
        cpuRatio: cpu(results[1]) / baseCpu,
      }),
    )
  }
  const print = process.argv.includes('--json') ? () => {} : console.log
  print(`\nCLI cold start, ${RUNS} runs each (hyperfine -N), load ${loadavg()[0].toFixed(1)}\n`)
  const rows = [
    ['command', 'mean', 'min', 'vs bare', 'cpu (user+sys)', 'cpu vs bare'],
    ...results.map((r, k) => [
      commands[k][0],
      `${(r.mean * 1000).toFixed(0)} ms`,
      `${(r.min * 1000).toFixed(0)} ms`,
      `${(r.mean / base).toFixed(2)} x`,
      `${(cpu(r) * 1000).toFixed(0)} ms`,
      `${(cpu(r) / baseCpu).toFixed(2)} x`,
    ]),
  ]
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  for (const r of rows) print(r.map((cell, c) => cell.padEnd(widths[c])).join('  '))
} finally {
  rmSync(dir, {recursive: true, force: true})
}
