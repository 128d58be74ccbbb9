#!/usr/bin/env node
// `dbroker connect NAME` until redis-cli's prompt is on screen, in a real terminal (tmux 80x24),
// and the same from `dbroker top` with x (the time from the key to the prompt), beside a bare
// `redis-cli` start on the same credentials (what the client alone costs).
// Needs a built CLI, tmux, redis-cli, and a broker behind a context with a Redis instance NAME.
// Usage: node bench/connect.mjs NAME [--context C] [--runs 5]
import {execFileSync, spawnSync} from 'node:child_process'
import {loadavg} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback)
const name = args[0]
if (!name || name.startsWith('--')) throw new Error('usage: node bench/connect.mjs NAME [--context C] [--runs 5]')
const context = flag('--context', undefined)
const runs = Number(flag('--runs', 5))
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cli = [process.execPath, path.join(root, 'bin/run.js')]
const withContext = context ? ['--context', context] : []
// A tmux server of its own: it starts with this process's environment, where the client's password is.
const socket = `bench-connect-${process.pid}`
const env = {...process.env}
const tmux = (...a) => execFileSync('tmux', ['-L', socket, ...a], {encoding: 'utf8', env})
const quote = (parts) => parts.map((a) => `'${a}'`).join(' ')

const shown = JSON.parse(
  execFileSync(cli[0], [...cli.slice(1), 'show', name, '--json', ...withContext], {encoding: 'utf8'}),
)
const port = shown.result.ports[0].host
const prompt = new RegExp(`${shown.result.address.replaceAll('.', '\\.')}:${port}>`)

/** Milliseconds from `since` until `pattern` is on the pane. */
async function until(session, pattern, since, what) {
  for (;;) {
    const screen = tmux('capture-pane', '-p', '-t', session)
    if (pattern.test(screen)) return Number(process.hrtime.bigint() - since) / 1e6
    if (Number(process.hrtime.bigint() - since) > 60e9) throw new Error(`no ${what} in 60 s:\n${screen}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Leaves the client: after its prompt, a moment for it to put the terminal in raw mode, or the keys are lost. */
async function quit(session) {
  await new Promise((resolve) => setTimeout(resolve, 500))
  tmux('send-keys', '-t', session, 'quit', 'Enter')
}

async function inTmux(command, measure) {
  const session = `bench-connect-${process.pid}`
  tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', command)
  try {
    return await measure(session)
  } finally {
    spawnSync('tmux', ['-L', socket, 'kill-session', '-t', session])
  }
}

const connectCli = () =>
  inTmux(quote([...cli, 'connect', name, ...withContext]), async (session) => {
    const started = process.hrtime.bigint()
    const ms = await until(session, prompt, started, 'redis-cli prompt')
    await quit(session)
    return ms
  })

const connectFromTop = () =>
  inTmux(quote([...cli, 'top', ...withContext]), async (session) => {
    await until(session, new RegExp(name), process.hrtime.bigint(), 'row in top')
    tmux('send-keys', '-t', session, '/', ...name, 'Enter')
    await new Promise((resolve) => setTimeout(resolve, 300))
    const started = process.hrtime.bigint()
    tmux('send-keys', '-t', session, 'x')
    const ms = await until(session, prompt, started, 'redis-cli prompt')
    await quit(session)
    await until(session, /back from the client/, process.hrtime.bigint(), 'top again')
    return ms
  })

// The client alone: the same credentials, bound once outside the timing.
const bound = JSON.parse(
  execFileSync(cli[0], [...cli.slice(1), 'bind', name, '--reuse', '--ttl', '10m', '--json', ...withContext], {
    encoding: 'utf8',
  }),
).result.credentials
env.REDISCLI_AUTH = String(bound.password)
const bareClient = () =>
  inTmux(`redis-cli -h ${bound.host} -p ${bound.port} --user '${bound.username}'`, async (session) => {
    const started = process.hrtime.bigint()
    const ms = await until(session, prompt, started, 'redis-cli prompt')
    await quit(session)
    return ms
  })

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = {bare: [], cli: [], top: []}
// A session that holds the server up between runs: one that exits while the next starts fails it.
tmux('new-session', '-d', '-s', 'hold', 'cat')
try {
  for (let run = 0; run < runs; run++) {
    results.bare.push(await bareClient())
    results.cli.push(await connectCli())
    results.top.push(await connectFromTop())
  }
} finally {
  spawnSync('tmux', ['-L', socket, 'kill-server'])
}
const rows = [
  ['what', 'median', 'min', 'max'],
  ...[
    ['redis-cli alone, to its prompt', results.bare],
    [`dbroker connect ${name}, to the prompt`, results.cli],
    ['top: x, to the prompt', results.top],
  ].map(([what, xs]) => [
    what,
    `${median(xs).toFixed(0)} ms`,
    `${Math.min(...xs).toFixed(0)} ms`,
    `${Math.max(...xs).toFixed(0)} ms`,
  ]),
]
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
console.log(`\nconnect to the client's prompt, ${runs} runs, tmux 80x24, load ${loadavg()[0].toFixed(1)}\n`)
for (const row of rows)
  console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
