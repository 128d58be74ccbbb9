import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {ContextStore, resolveTarget} from '../../src/cli/contexts.js'
import {upCommandLine} from '../../src/cli/detach.js'
import {BrokerClient} from '../../src/client/broker-client.js'
import type {DbrokerError} from '../../src/core/errors.js'

/** A port nothing listens on: one the kernel handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe("the hint when a context's `dbroker up` is not running", () => {
  const dirs: string[] = []
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, {recursive: true, force: true})))

  it('names the up that starts it again as it was, not a plain `dbroker up --detach` (which starts another one)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-hint-'))
    dirs.push(dir)
    const store = new ContextStore(dir)
    const url = `http://127.0.0.1:${await closedPort()}`
    const startCommand = upCommandLine({
      dataDir: '/tmp/my data',
      url,
      catalog: '/etc/dbroker/catalog.yml',
      portRange: '43851-43899',
      context: 'local',
      bind: '127.0.0.1',
    })
    expect(startCommand).toBe(
      `dbroker up --detach --data-dir '/tmp/my data' --port ${new URL(url).port} --catalog /etc/dbroker/catalog.yml --port-range 43851-43899`,
    )
    await store.set('local', {url, username: 'u', password: 'p', startCommand}, {use: true})
    const target = resolveTarget(store, undefined, {})
    const failure = (await new BrokerClient(target).catalog().catch((e: unknown) => e)) as DbrokerError
    expect(failure.message).toBe(`cannot reach the broker at ${url} (ECONNREFUSED)`)
    expect(failure.hint).toBe(`start it again with \`${startCommand}\``)
  })

  it("an up's context says where that up logs (a failure from the broker points there); DBROKER_URL does not", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-hint-'))
    dirs.push(dir)
    const store = new ContextStore(dir)
    await store.set('local', {url: 'http://127.0.0.1:1', dataDir: '/srv/dbroker'}, {use: true})
    expect(resolveTarget(store, undefined, {}).logFile).toBe('/srv/dbroker/up.log')
    expect(resolveTarget(store, undefined, {DBROKER_URL: 'http://127.0.0.1:2'}).logFile).toBeUndefined()
  })

  it('a context without one (written by an older up, or DBROKER_URL) keeps the general hint', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const failure = (await new BrokerClient({url, context: 'local', username: 'u', password: 'p'})
      .catalog()
      .catch((e: unknown) => e)) as DbrokerError
    expect(failure.hint).toBe('start one with `dbroker up --detach`')
  })
})
