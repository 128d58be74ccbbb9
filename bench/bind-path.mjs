#!/usr/bin/env node
// The broker's own cost of a bind that hands out a spare user: the lifecycle over a real SQLite
// store in a temp dir, with an agent that answers at once (no engine, no HTTP)
// (run it under node --cpu-prof to see where it goes). What is left of bench/provision.mjs's bind time
// beyond this is HTTP and the machine's load. Needs a built tree (npm run build).
// Usage: node bench/bind-path.mjs [--binds 200]
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BrokerEvents} from '../dist/broker/events.js'
import {Provisioner} from '../dist/broker/lifecycle/index.js'
import {loadCatalog} from '../dist/catalog/index.js'
import {createLogger} from '../dist/core/log.js'
import {openStore} from '../dist/store/index.js'

const args = process.argv.slice(2)
const BINDS = Number(args.includes('--binds') ? args[args.indexOf('--binds') + 1] : 200)
const REDIS = {service_id: 'bc8c6ef5-570d-4f7b-95fd-b6d009b47509', plan_id: '9224c565-e657-4b4e-8048-c400aea5257c'}
const meta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]

const execs = []
const agent = {
  apply: async (spec) => ({
    instanceId: spec.instanceId,
    containerId: 'c',
    name: spec.name,
    image: spec.image,
    status: 'running',
    health: 'none',
    restartCount: 0,
  }),
  remove: async () => {},
  exec: async (_id, command) => (execs.push(command[0]), {exitCode: 0, output: ''}),
  list: async () => [],
  facts: async () => ({}),
}
const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-bench-bind-'))
let store
try {
  store = await openStore(`sqlite:${path.join(dir, 'store.sqlite')}`)
  await store.upsertHost({
    id: 'local',
    serviceAddress: '127.0.0.1',
    bindAddress: '127.0.0.1',
    agentUrl: null,
    portMin: 45000,
    portMax: 45999,
    zone: null,
    labels: {},
    facts: {},
  })
  const provisioner = new Provisioner({
    store,
    catalog: loadCatalog(),
    agentFor: () => agent,
    events: new BrokerEvents(),
    log: createLogger('warn'),
    brokerId: 'bench',
    keepaliveMs: 60_000,
  })
  await provisioner.provision('bench-i', {...REDIS, organization_guid: 'o', space_guid: 's'}, meta)
  const times = []
  for (let i = 0; i < BINDS; i++) {
    // Spares refill in the background after each bind: wait until the pool is full again, as a spaced bind would.
    while ((await store.spareUsers('bench-i')).length < 2) await new Promise((r) => setTimeout(r, 1))
    const t0 = performance.now()
    await provisioner.bind('bench-i', `bench-b-${i}`, REDIS, meta)
    times.push(performance.now() - t0)
  }
  console.log(
    `bind with a spare user ready, lifecycle only (${BINDS} binds, ${execs.length} hook execs faked): p50 ${quantile(times, 0.5).toFixed(2)} ms, p95 ${quantile(times, 0.95).toFixed(2)} ms`,
  )
} finally {
  await store?.close()
  rmSync(dir, {recursive: true, force: true})
}
