import {execFile} from 'node:child_process'
import {chmodSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RUN} from '../helpers/cli.js'
import {redis} from '../helpers/clients.js'
import {labelled} from '../helpers/docker.js'
import {expectNothingLeft, ORG, REDIS, startTestSystem, testId, type TestSystem} from '../helpers/system.js'

/** What someone who copies the store's files reads: the database and its WAL, as bytes. */
function storeBytes(dataDir: string): string {
  return ['dbroker.db', 'dbroker.db-wal']
    .map((name) => {
      try {
        return readFileSync(path.join(dataDir, name)).toString('latin1')
      } catch {
        return ''
      }
    })
    .join('')
}

const mode = (file: string) => statSync(file).mode & 0o777

describe('data at rest and output: a store that gives nothing away, input that is printable, a terminal that is not steered', () => {
  let t: TestSystem
  let dataDir: string
  const instanceId = testId()

  beforeAll(async () => {
    // A data dir that already existed, readable by everyone.
    dataDir = mkdtempSync(path.join(tmpdir(), 'dbroker-rest-'))
    chmodSync(dataDir, 0o755)
    t = await startTestSystem({dataDir, portRange: [43250, 43299]})
    expect((await t.osb.provision(instanceId, {...REDIS, ...ORG, parameters: {}})).status).toBe(201)
  })
  afterAll(async () => {
    await t?.close()
    rmSync(dataDir, {recursive: true, force: true})
  })

  it('provision and bind: the passwords work with redis-cli, yet appear nowhere in the SQLite files; the files are 0600, the dir 0700', async () => {
    const bindingId = testId('b')
    const bound = await t.osb.bind(instanceId, bindingId, REDIS)
    expect(bound.status).toBe(201)
    const {password, uri} = bound.body.credentials
    expect(redis(uri, 'PING')).toBe('PONG')
    const ownerPassword = (await t.system.store.getInstance(instanceId))!.credentials.password

    const bytes = storeBytes(dataDir)
    expect(bytes.length).toBeGreaterThan(0)
    expect(bytes, 'binding password').not.toContain(password)
    expect(bytes, 'instance password').not.toContain(ownerPassword)

    expect(mode(dataDir)).toBe(0o700)
    for (const file of ['dbroker.db', 'dbroker.db-wal', 'dbroker.db-shm', 'store.key'])
      expect(mode(path.join(dataDir, file)), file).toBe(0o600)

    // Unbound, its sealed credentials (which the key next to them would open) are gone from the file and the WAL.
    const sealed = (
      await t.system.store.db
        .selectFrom('bindings')
        .select('credentials')
        .where('id', '=', bindingId)
        .executeTakeFirstOrThrow()
    ).credentials
    expect(storeBytes(dataDir)).toContain(sealed)
    expect((await t.osb.unbind(instanceId, bindingId, REDIS)).status).toBe(200)
    expect(storeBytes(dataDir)).not.toContain(sealed)
  })

  it('ids with ESC or a newline, oversize parameters and a name with ESC are 400s naming the field; nothing is stored or started', async () => {
    const escId = `${testId()}\u001b[2J`
    const provision = await t.osb.provision(encodeURIComponent(escId), {...REDIS, ...ORG})
    expect(provision.status).toBe(400)
    expect(provision.body.description).toMatch(/instance_id contains the control character U\+001B/)

    const newlineBinding = await t.osb.bind(
      instanceId,
      encodeURIComponent(`b\n2026-12-01T00:00:00.000Z info  forged`),
      REDIS,
    )
    expect(newlineBinding.status).toBe(400)
    expect(newlineBinding.body.description).toMatch(/binding_id contains the control character U\+000A/)

    const bigId = testId()
    const big = await t.osb.provision(bigId, {...REDIS, ...ORG, parameters: {blob: 'x'.repeat(70 * 1024)}})
    expect(big.status).toBe(400)
    expect(big.body.description).toMatch(/parameters is \d+ bytes as JSON, more than the 64 KiB allowed/)

    const namedId = testId()
    const named = await t.osb.provision(namedId, {
      ...REDIS,
      ...ORG,
      context: {platform: 'cloudfoundry', instance_name: 'cache\u001b]0;owned\u0007'},
    })
    expect(named.status).toBe(400)
    expect(named.body.description).toMatch(/context\.instance_name contains the control character U\+001B/)

    const longGuid = await t.osb.provision(testId(), {...REDIS, organization_guid: 'o'.repeat(300), space_guid: 's'})
    expect(longGuid.status).toBe(400)
    expect(longGuid.body.description).toMatch(/organization_guid is longer than 255 characters/)

    expect((await t.system.store.listInstances()).map((i) => i.id)).toEqual([instanceId])
    for (const id of [escId, bigId, namedId]) expect((await labelled(id)).containers).toHaveLength(0)
  })

  it('`dbroker instances` prints an ESC in a stored name as \\x1b, never raw', async () => {
    // As an instance stored before names were checked: the store has it, the CLI must not pass it to the terminal.
    await t.system.store.setInstanceName(instanceId, 'cache\u001b]0;owned\u0007\u001b[2J')
    const config = mkdtempSync(path.join(tmpdir(), 'dbroker-cli-'))
    try {
      const {stdout} = await promisify(execFile)(process.execPath, [RUN, 'instances', '--no-stats'], {
        env: {
          ...process.env,
          XDG_CONFIG_HOME: config,
          DBROKER_URL: t.system.url,
          DBROKER_ADMIN_USERNAME: t.system.adminCredentials.username,
          DBROKER_ADMIN_PASSWORD: t.system.adminCredentials.password,
          NO_COLOR: '1',
        },
      })
      expect(stdout).toContain('cache\\x1b]0;owned\\x07\\x1b[2J')
      expect(stdout).not.toContain('\u001b')
      expect(stdout).not.toContain('\u0007')
    } finally {
      rmSync(config, {recursive: true, force: true})
    }
  })

  it('deprovision leaves nothing behind', async () => {
    expect((await t.osb.deprovision(instanceId, REDIS)).status).toBe(200)
    await expectNothingLeft(t, instanceId)
  })
})
