#!/usr/bin/env node
// Provision time of each plan kind, in one run on one `dbroker up`, rounds interleaved:
//   dedicated  a sync PUT of MariaDB's `small` plan: its own container, made and started
//   shared 1st a sync PUT of MariaDB's `shared` plan when no instance is there: makes the container
//   shared 2nd a sync PUT of a second instance of it: /dbroker/provision in the running container, no start
//   static     a sync PUT of a static plan: nothing runs
// Each measured instance is deprovisioned before the next round. Needs a built CLI (npm run build)
// and dbroker/mariadb:10.11. Usage: node bench/plan-kinds.mjs [--rounds 5] [--json]
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 5
const JSON_OUT = args.includes('--json')
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const MARIADB = 'a258a633-190f-4dfd-b02f-990abf680151'
const PLANS = {
  dedicated: {service_id: MARIADB, plan_id: '563c4f48-5e49-4fce-ad2e-108ed2a9abfb'},
  shared: {service_id: MARIADB, plan_id: '3b1f7c52-9f0e-4f7a-8a1c-5d2e6f0a9b41'},
  static: {service_id: 'c0d1e2f3-0000-4000-8000-00000000be01', plan_id: 'c0d1e2f3-0000-4000-8000-00000000be02'},
}
const STATIC_SERVICE = `
  - id: ${PLANS.static.service_id}
    name: bench-static
    description: credentials of a database run elsewhere
    bindable: true
    plans:
      - id: ${PLANS.static.plan_id}
        name: given
        description: every binding gets these
        kind:
          static:
            credentials: {host: db.example.com, port: 3306, username: app, password: ${randomBytes(12).toString('hex')}, uri: "mysql://db.example.com:3306/app"}
`

async function startUp(dataDir, catalog) {
  const env = {...process.env, XDG_CONFIG_HOME: path.join(dataDir, 'config')}
  const child = spawn(
    process.execPath,
    [path.join(root, 'bin/run.js'), 'up', '--json', '--port', '0', '--data-dir', dataDir, '--catalog', catalog].concat([
      '--port-range',
      '44100-44199',
      '--log-level',
      'warn',
    ]),
    {stdio: ['ignore', 'pipe', 'inherit'], env},
  )
  const line = await new Promise((resolve, reject) => {
    createInterface({input: child.stdout}).once('line', resolve)
    child.on('exit', (code) => reject(new Error(`up exited with ${code}`)))
  })
  return {child, ...JSON.parse(line)}
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]

const dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-kinds-'))
const catalog = path.join(dataDir, 'catalog.yml')
writeFileSync(
  catalog,
  readFileSync(path.join(root, 'images/catalog.yml'), 'utf8').replace(
    /build: (redis|postgresql|mariadb)$/gm,
    (_, d) => `build: ${path.join(root, 'images', d)}`,
  ) + STATIC_SERVICE,
)
const up = await startUp(dataDir, catalog)
const headers = {
  authorization: `Basic ${Buffer.from(`${up.username}:${up.password}`).toString('base64')}`,
  'x-broker-api-version': '2.17',
  'content-type': 'application/json',
}
const made = new Map()
async function provision(plan) {
  const id = `bench-${randomBytes(4).toString('hex')}`
  const t0 = performance.now()
  const response = await fetch(`${up.url}/v2/service_instances/${id}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({...plan, organization_guid: 'o', space_guid: 's'}),
  })
  const elapsed = performance.now() - t0
  if (response.status !== 201) throw new Error(`provision answered ${response.status}: ${await response.text()}`)
  made.set(id, plan)
  return {id, elapsed}
}
async function deprovision(id) {
  const {service_id, plan_id} = made.get(id)
  const response = await fetch(`${up.url}/v2/service_instances/${id}?service_id=${service_id}&plan_id=${plan_id}`, {
    method: 'DELETE',
    headers,
  })
  if (response.status !== 200) throw new Error(`deprovision answered ${response.status}: ${await response.text()}`)
  made.delete(id)
}

const times = {dedicated: [], 'shared 1st': [], 'shared 2nd': [], static: []}
const loads = [loadavg()[0]]
try {
  for (let round = 0; round < ROUNDS; round++) {
    const dedicated = await provision(PLANS.dedicated)
    times.dedicated.push(dedicated.elapsed)
    await deprovision(dedicated.id)
    const first = await provision(PLANS.shared)
    times['shared 1st'].push(first.elapsed)
    const second = await provision(PLANS.shared)
    times['shared 2nd'].push(second.elapsed)
    await deprovision(second.id)
    await deprovision(first.id)
    const given = await provision(PLANS.static)
    times.static.push(given.elapsed)
    await deprovision(given.id)
    loads.push(loadavg()[0])
  }
} finally {
  for (const id of [...made.keys()]) await deprovision(id).catch((e) => console.error(String(e)))
  up.child.kill('SIGTERM')
  await new Promise((r) => up.child.on('exit', r))
  rmSync(dataDir, {recursive: true, force: true})
}

const rows = Object.entries(times).map(([kind, xs]) => ({
  kind,
  p50: quantile(xs, 0.5),
  p90: quantile(xs, 0.9),
  vsDedicated: quantile(xs, 0.5) / quantile(times.dedicated, 0.5),
}))
if (JSON_OUT) console.log(JSON.stringify({rounds: ROUNDS, rows, load: loads}))
else {
  console.log(`sync provision of a MariaDB-backed plan of each kind, ${ROUNDS} rounds interleaved, one dbroker up`)
  console.log('| kind | p50 | p90 | p50 / dedicated |')
  console.log('|---|---|---|---|')
  for (const r of rows)
    console.log(`| ${r.kind} | ${r.p50.toFixed(1)} ms | ${r.p90.toFixed(1)} ms | ${r.vsDedicated.toFixed(3)} x |`)
  console.log(`load average (1 min) per round: ${loads.map((l) => l.toFixed(2)).join(' ')}`)
}
