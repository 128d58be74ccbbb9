import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type OperatorSandbox, startSandbox} from '../helpers/operator.js'

const port = 42200 + Math.floor(Math.random() * 50)

describe('up --detach --data-dir DIR, then down as the operator types it', () => {
  let box: OperatorSandbox
  beforeAll(async () => {
    box = await startSandbox({port, portRange: [42250, 42269], dataDirName: 'elsewhere'})
  })
  afterAll(async () => {
    await box?.stop()
  })

  it('up --detach --json again answers the running one with its credentials, as the README says', async () => {
    const again = await box.cli(['up', '--detach', '--json', '--data-dir', box.dataDir])
    expect(again.code).toBe(0)
    const {result} = JSON.parse(again.stdout)
    expect(result).toMatchObject({url: box.url, context: 'local', username: 'broker', adminUsername: 'admin'})
    expect(result.password).toMatch(/\S{16,}/)
    expect(result.adminPassword).toMatch(/\S{16,}/)
    // The background up's output is a log file: it names where the passwords are, never the passwords.
    const log = readFileSync(path.join(box.dataDir, 'up.log'), 'utf8')
    expect(log).toContain('dbroker is up at')
    expect(log).toContain('credentials.json')
    expect(log).not.toContain(result.password)
    expect(log).not.toContain(result.adminPassword)
  })

  it('up --detach --port OTHER while one runs for the data dir is an error naming the running one', async () => {
    const other = await box.cli(['up', '--detach', '--port', String(port + 60), '--data-dir', box.dataDir])
    expect(other.code).toBe(1)
    expect(other.stdout).not.toContain(box.url)
    expect(other.stderr).toContain(`already running for ${box.dataDir} at ${box.url}`)
  })

  it('down --purge finds the up behind the current context, deprovisions, deletes its deployments and stops it; a second down exits 1', async () => {
    const made = await box.cli(['provision', 'redis', '--name', 'to-purge'])
    expect(made.code).toBe(0)
    const deployment = `purge${port}`
    const manifest = path.join(box.home, 'purge.yml')
    writeFileSync(
      manifest,
      `name: ${deployment}\nhosts:\n  - name: local\n    containers:\n      - name: cache\n        image: dbroker/redis:7\n        entrypoint: redis-server\n        command: [--protected-mode, "no"]\n`,
    )
    const deployed = await box.cli(['deploy', manifest])
    expect(deployed.code, deployed.stderr).toBe(0)
    const left = () => ({
      containers: execFileSync('docker', ['ps', '-aq', '--filter', `name=dbroker.${deployment}.`], {
        encoding: 'utf8',
      }).trim(),
      networks: execFileSync('docker', ['network', 'ls', '-q', '--filter', `name=.${deployment}`], {
        encoding: 'utf8',
      }).trim(),
    })
    expect(left().containers).not.toBe('')
    // A follower must not end silently with 0 when the broker goes away.
    const following = box.cli(['logs', 'to-purge', '-f'])
    await new Promise((resolve) => setTimeout(resolve, 1500))
    // Purging deletes data: without a terminal to ask in, it needs --yes, and does nothing.
    const unasked = await box.cli(['down', '--purge'])
    expect(unasked.code).toBe(2)
    expect(unasked.stderr).toContain('pass --yes to purge without asking')
    expect((await box.cli(['show', 'to-purge'])).code).toBe(0)
    const down = await box.cli(['down', '--purge', '--yes', '--json'])
    expect(down.code, down.stderr).toBe(0)
    const {result} = JSON.parse(down.stdout)
    expect(result).toMatchObject({running: true, stopped: 'stopped'})
    expect(result.purged).toHaveLength(1)
    // Nothing of the deployment outlives the broker: no container, no network.
    expect(result.deployments).toEqual([deployment])
    expect(left()).toEqual({containers: '', networks: ''})
    const reach = await box.cli(['ls', '--no-stats'])
    expect(reach.code).toBe(1)
    expect(reach.stderr).toContain('cannot reach the broker')

    const followed = await following
    expect(followed.code).toBe(1)
    expect(followed.stdout).toContain('Ready to accept connections')
    expect(followed.stderr).toContain('the log stream ended')
    expect(followed.stderr).toContain('--retry')

    const again = await box.cli(['down', '--json'])
    expect(again.code).toBe(1)
    expect(JSON.parse(again.stdout)).toMatchObject({
      status: 1,
      error: {message: `dbroker up is not running for ${box.dataDir}; nothing stopped`},
    })
  })
})
