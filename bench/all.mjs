#!/usr/bin/env node
// Every speed target of issue 8 in one table: each bench below runs as its own process, each
// ratio is taken against its raw baseline in the same run, and the whole set is repeated so the
// noise of a shared machine shows (median and spread of the repeats, the load average around each).
//   provision.mjs  single provision and 20 at once vs dockerode, bind with a spare user ready
//   catalog.mjs    GET /v2/catalog vs a bare fastify serving the same bytes (wrk)
//   cli-start.mjs  `dbroker --help` vs a bare oclif CLI (hyperfine)
// Needs a built CLI (npm run build), the images, wrk and hyperfine.
// --before DIR: a built checkout of the code before (with these bench files copied in), measured
// alternately with this one in the same run, so the table shows before and after under the same load.
// --quick: fewer samples per repeat (3 singles, 3 s of wrk, 5 CLI starts), for a loaded machine.
// Usage: node bench/all.mjs [--repeats 3] [--before DIR] [--quick]
import {execFileSync} from 'node:child_process'
import {loadavg} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const opt = (name) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined)
const REPEATS = Number(opt('repeats') ?? 3)
const QUICK = args.includes('--quick')
const trees = [
  ...(opt('before') ? [['before', path.join(path.resolve(opt('before')), 'bench')]] : []),
  ['after', path.dirname(fileURLToPath(import.meta.url))],
]
const run = (dir, script, ...rest) => {
  const out = execFileSync(process.execPath, [path.join(dir, script), ...rest, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(out.trim().split('\n').at(-1))
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

const samples = Object.fromEntries(
  trees.map(([name]) => [
    name,
    {single: [], parallel: [], singleSame: [], parallelSame: [], bind: [], catalog: [], cli: []},
  ]),
)
const load = []
function printTable(done) {
  const ratio = (x) => `${x.toFixed(2)} x`
  const measures = [
    ['single sync provision / dockerode create+start until PING', 'single', ratio, '<= 1.05 x', (x) => x <= 1.05],
    ['20 sync provisions at once / dockerode x20', 'parallel', ratio, '<= 1.15 x', (x) => x <= 1.15],
    [
      "single sync provision / dockerode with the broker's options",
      'singleSame',
      ratio,
      "(the broker's own cost)",
      () => true,
    ],
    [
      "20 at once / dockerode x20 with the broker's options",
      'parallelSame',
      ratio,
      "(the broker's own cost)",
      () => true,
    ],
    ['bind with a spare user ready, p50', 'bind', (x) => `${x.toFixed(1)} ms`, '< 10 ms', (x) => x < 10],
    ['GET /v2/catalog req/s / bare fastify', 'catalog', ratio, '>= 0.80 x', (x) => x >= 0.8],
    ['dbroker --help / bare oclif --help', 'cli', ratio, '<= 1.05 x', (x) => x <= 1.05],
  ]
  const head = ['measure', 'target', ...trees.flatMap(([name]) => [`${name} median`, `${name} each repeat`, 'met'])]
  const rows = measures.map(([label, key, fmt, target, ok]) => [
    label,
    target,
    ...trees.flatMap(([name]) => {
      const xs = samples[name][key]
      return [fmt(median(xs)), xs.map(fmt).join(', '), ok(median(xs)) ? 'yes' : 'no']
    }),
  ])
  console.log(
    `\nissue 8 speed targets, ${done} of ${REPEATS} repeats, load average (1 min) ${load.map((l) => l.toFixed(2)).join(' → ')}\n`,
  )
  const widths = head.map((_, c) => Math.max(...[head, ...rows].map((r) => r[c].length)))
  for (const r of [head, ...rows]) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '))
}

for (let k = 0; k < REPEATS; k++) {
  // One round each time, the trees one after the other: every tree sees the same spells of load.
  for (const [name, dir] of trees) {
    load.push(loadavg()[0])
    const p = run(dir, 'provision.mjs', '--rounds', '1', '--instances', '0', ...(QUICK ? ['--singles', '3'] : []))
    samples[name].single.push(p.singleRatio.median)
    samples[name].parallel.push(p.parallelRatio.median)
    samples[name].bind.push(p.bindP50Ms.median)
    samples[name].singleSame.push(p.singleSameOptionsRatio)
    samples[name].parallelSame.push(p.parallelSameOptionsRatio)
    samples[name].catalog.push(
      median(run(dir, 'catalog.mjs', '--rounds', '1', ...(QUICK ? ['--duration', '3'] : [])).ratios),
    )
    samples[name].cli.push(run(dir, 'cli-start.mjs', '--runs', QUICK ? '5' : '10').ratio)
    console.error(`repeat ${k + 1}/${REPEATS} of ${name} done, load average ${loadavg()[0].toFixed(2)}`)
  }
  // After every repeat, so a run cut short still leaves its numbers.
  load.push(loadavg()[0])
  printTable(k + 1)
}
