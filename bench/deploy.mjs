#!/usr/bin/env node
// `dbroker deploy` of N containers in a dependency chain (c1 depends on c0, c2 on c1, ...) against
// `docker-compose up -d` (Debian's 1.29) of the same set: the same image, command and published
// ports, each tool's wall time from its command line to its exit, then each side torn down
// (`dbroker deploy delete --yes`, `docker-compose down -v`) before the next run.
// Needs a built CLI (npm run build), the dbroker/redis:7 image and docker-compose on PATH.
// Usage: node bench/deploy.mjs [--runs 5] [--containers 10]
import {execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const RUNS = opt('runs', 5)
const N = opt('containers', 10)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUN = path.join(root, 'bin/run.js')
const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-deploy-'))
const tag = randomBytes(2).toString('hex')
const NAME = `bench-${tag}`
const PORT_BASE = 47100

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const run = (file, argv, env = {}) =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    execFile(
      file,
      argv,
      {env: {...process.env, ...env}, encoding: 'utf8', maxBuffer: 1 << 24},
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${path.basename(file)} ${argv.join(' ')} failed: ${stderr || error.message}`))
        else resolve({ms: performance.now() - started, stdout})
      },
    )
  })

// One container per line of the chain: a redis server on its own port, as both tools declare it.
const names = Array.from({length: N}, (_, i) => `c${i}`)
const manifest = [
  `name: ${NAME}`,
  'hosts:',
  '  - name: local',
  '    containers:',
  ...names.flatMap((name, i) => [
    `      - name: ${name}`,
    '        image: dbroker/redis:7',
    '        entrypoint: redis-server',
    `        command: "--port 6379 --protected-mode no --save ''"`,
    `        ports: ["127.0.0.1:${PORT_BASE + i}:6379"]`,
    // Ready means answering PING: dbroker starts each link after the one before it answers (compose only after it started).
    '        readiness: {probe: tcp, send: "PING\\r\\n", expect: PONG, timeout: 30s}',
    ...(i > 0 ? [`        depends_on: [${names[i - 1]}]`] : []),
  ]),
].join('\n')
const compose = [
  "version: '2.4'",
  'services:',
  ...names.flatMap((name, i) => [
    `  ${name}:`,
    '    image: dbroker/redis:7',
    '    entrypoint: [redis-server]',
    `    command: [--port, "6379", --protected-mode, "no", --save, ""]`,
    `    ports: ["127.0.0.1:${PORT_BASE + 100 + i}:6379"]`,
    ...(i > 0 ? [`    depends_on: [${names[i - 1]}]`] : []),
  ]),
].join('\n')
const manifestFile = path.join(dir, 'deploy.yml')
const composeFile = path.join(dir, 'docker-compose.yml')
writeFileSync(manifestFile, `${manifest}\n`)
writeFileSync(composeFile, `${compose}\n`)

const adminPassword = randomBytes(16).toString('hex')
const env = {
  XDG_CONFIG_HOME: path.join(dir, 'config'),
  DBROKER_ADMIN_USERNAME: 'admin',
  DBROKER_ADMIN_PASSWORD: adminPassword,
}
const up = spawn(
  process.execPath,
  [RUN, 'up', '--json', '--port', '0', '--data-dir', path.join(dir, 'data'), '--port-range', '47000-47099'],
  {
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const ready = await new Promise((resolve, reject) => {
  createInterface({input: up.stdout}).once('line', (line) => resolve(JSON.parse(line)))
  up.once('exit', (code) => reject(new Error(`dbroker up exited with ${code}`)))
})
const cliEnv = {...env, DBROKER_URL: ready.url, DBROKER_USERNAME: ready.username, DBROKER_PASSWORD: ready.password}

const times = {dbroker: [], compose: []}
try {
  for (let r = 0; r < RUNS; r++) {
    const deploy = await run(process.execPath, [RUN, 'deploy', manifestFile, '--json'], cliEnv)
    const result = JSON.parse(deploy.stdout).result
    if (result.containers.some((c) => c.state !== 'ready'))
      throw new Error(`deploy left ${JSON.stringify(result.containers)}`)
    times.dbroker.push(deploy.ms)
    await run(process.execPath, [RUN, 'deploy', 'delete', NAME, '--yes', '--json'], cliEnv)
    times.compose.push((await run('docker-compose', ['-f', composeFile, '-p', `bench${tag}`, 'up', '-d'])).ms)
    await run('docker-compose', ['-f', composeFile, '-p', `bench${tag}`, 'down', '-v'])
    process.stderr.write(
      `run ${r + 1}/${RUNS}: dbroker ${Math.round(times.dbroker.at(-1))} ms, compose ${Math.round(times.compose.at(-1))} ms\n`,
    )
  }
} finally {
  await run(process.execPath, [RUN, 'deploy', 'delete', NAME, '--yes'], cliEnv).catch(() => undefined)
  await run('docker-compose', ['-f', composeFile, '-p', `bench${tag}`, 'down', '-v']).catch(() => undefined)
  up.kill('SIGTERM')
  await new Promise((resolve) => up.once('exit', resolve))
  rmSync(dir, {recursive: true, force: true})
}

const row = (label, xs) =>
  `${label.padEnd(28)} ${String(Math.round(median(xs))).padStart(8)} ${String(Math.round(Math.min(...xs))).padStart(8)} ${String(Math.round(Math.max(...xs))).padStart(8)}`
console.log(`${N} containers in a dependency chain, ${RUNS} runs, wall time of the command (ms)`)
console.log(`${'tool'.padEnd(28)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}`)
console.log(row('dbroker deploy', times.dbroker))
console.log(row('docker-compose up -d (1.29)', times.compose))
console.log(`dbroker / compose (median): ${(median(times.dbroker) / median(times.compose)).toFixed(2)}`)
