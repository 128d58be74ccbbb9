import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {silentLogger} from '../../src/core/log.js'
import {connectEngine, pingEngine} from '../../src/docker/engine.js'
import {startLocal} from '../../src/system/local.js'

const deadSocket = path.join(tmpdir(), `dbroker-no-engine-${process.pid}.sock`)

describe('no Docker engine', () => {
  const saved = process.env.DOCKER_HOST
  afterEach(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST
    else process.env.DOCKER_HOST = saved
  })

  it('pinging an engine that is not there says where it looked and how to get one', async () => {
    const error = (await pingEngine(connectEngine({host: `unix://${deadSocket}`})).catch(
      (e: unknown) => e,
    )) as Error & {hint?: string}
    expect(error.name).toBe('EngineError')
    expect(error.message).toBe(`the Docker engine at unix://${deadSocket} is not reachable (ENOENT)`)
    expect(error.hint).toMatch(/DOCKER_HOST/)
  })

  it('`up` with DOCKER_HOST at a dead socket stops before it serves or writes anything', async () => {
    process.env.DOCKER_HOST = `unix://${deadSocket}`
    const parent = mkdtempSync(path.join(tmpdir(), 'dbroker-test-'))
    const dataDir = path.join(parent, 'data')
    try {
      const error = await startLocal({
        dataDir,
        listen: {host: '127.0.0.1', port: 0},
        serviceAddress: '127.0.0.1',
        portRange: [41000, 41001],
        keepaliveMs: 1000,
        log: silentLogger,
      }).catch((e: unknown) => e)
      expect((error as Error).message).toMatch(new RegExp(`Docker engine at unix://${deadSocket} is not reachable`))
      expect(existsSync(dataDir)).toBe(false)
    } finally {
      rmSync(parent, {recursive: true, force: true})
    }
  })
})
