import {writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type OperatorSandbox, startSandbox} from '../helpers/operator.js'

const port = 43400 + Math.floor(Math.random() * 10)

describe('an operator names what dbroker deploy made, resizes a plan without a disk, reads a ttl', () => {
  let box: OperatorSandbox
  beforeAll(async () => {
    box = await startSandbox({port, portRange: [43410, 43439]})
    const manifest = path.join(box.home, 'names.yml')
    writeFileSync(
      manifest,
      [
        'name: names',
        'hosts:',
        '  - name: local',
        '    containers:',
        '      - name: cache',
        '        image: dbroker/redis:7',
        '        entrypoint: redis-server',
        '        ports: ["6379"]',
        '',
      ].join('\n'),
    )
    const deployed = await box.cli(['deploy', manifest])
    expect(deployed.code, deployed.stderr).toBe(0)
  }, 240_000)
  afterAll(async () => {
    await box?.cli(['deploy', 'delete', 'names', '--yes'])
    await box?.stop()
  }, 240_000)

  it('logs and restart find a deployed container by its name, or <deployment>/<container>', async () => {
    const byName = await box.cli(['logs', 'cache', '--tail', 'all'])
    expect(byName.code, byName.stderr).toBe(0)
    expect(byName.stdout).toContain('Ready to accept connections')
    const byFull = await box.cli(['logs', 'names/cache', '--grep', 'Ready to accept'])
    expect(byFull.code, byFull.stderr).toBe(0)
    expect(byFull.stdout).toContain('Ready to accept connections')
    const restarted = await box.cli(['restart', 'names/cache', '--json'])
    expect(restarted.code, restarted.stderr).toBe(0)
    expect(JSON.parse(restarted.stdout).result).toEqual({id: 'deploy:names:local:cache', restarted: true})
  })

  it('show finds a deployed container by its name, <deployment>/<container> or id, as logs and restart do', async () => {
    const byName = await box.cli(['show', 'cache'])
    expect(byName.code, byName.stderr).toBe(0)
    expect(byName.stdout).toMatch(/^name\s+names\/cache$/m)
    expect(byName.stdout).toMatch(/^deployment\s+names$/m)
    expect(byName.stdout).toMatch(/^image\s+dbroker\/redis:7$/m)
    expect(byName.stdout).toMatch(/^container\s+running, \d+ restart\(s\)/m)
    const byFull = await box.cli(['show', 'names/cache', '--json'])
    expect(byFull.code, byFull.stderr).toBe(0)
    const shown = JSON.parse(byFull.stdout).result
    expect(shown).toMatchObject({id: 'deploy:names:local:cache', deployment: 'names', name: 'cache', hostId: 'local'})
    expect(shown.container.status).toBe('running')
    const byId = await box.cli(['show', 'deploy:names:local:cache', '--json'])
    expect(JSON.parse(byId.stdout).result.id).toBe('deploy:names:local:cache')
    const credentials = await box.cli(['show', 'names/cache', '--credentials'])
    expect(credentials.code).toBe(1)
    expect(credentials.stderr).toContain('--credentials: names/cache is a deployed container, which has no bindings')
  })

  it('a name nothing has is an error that lists the near names', async () => {
    const near = await box.cli(['logs', 'cach'])
    expect(near.code).toBe(1)
    expect(near.stdout).toBe('')
    expect(near.stderr).toContain('no instance or deployed container has the id or name cach')
    expect(near.stderr).toContain('did you mean names/cache')
  })

  it('disk resize on a plan without a disk is refused before anything is announced or stopped', async () => {
    expect((await box.cli(['provision', 'redis', '--name', 'diskless'])).code).toBe(0)
    const before = JSON.parse((await box.cli(['show', 'diskless', '--json'])).stdout).result
    const resize = await box.cli(['disk', 'resize', 'diskless', '1G'])
    expect(resize.code).toBe(1)
    expect(resize.stderr).toContain('has no disk to resize')
    expect(resize.stderr).not.toMatch(/resizing|stops/)
    const after = JSON.parse((await box.cli(['show', 'diskless', '--json'])).stdout).result
    expect(after.container.restartCount).toBe(before.container.restartCount)
    expect(after.container.startedAt).toBe(before.container.startedAt)
  })

  it('a binding made with --ttl 4h shows 4h left just after, not 3h, in bindings and show', async () => {
    const bound = await box.cli(['bind', 'diskless', '--ttl', '4h', '--json'])
    expect(bound.code, bound.stderr).toBe(0)
    const list = await box.cli(['bindings', 'diskless'])
    expect(list.stdout.split('\n')[0]).toMatch(/EXPIRES/)
    expect(list.stdout).toMatch(/\s4h\n/)
    expect(list.stdout).not.toMatch(/\s3h\n/)
    expect((await box.cli(['show', 'diskless'])).stdout).toMatch(/\s4h\n/)
  })
})
