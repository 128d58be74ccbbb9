import {spawnSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {basicAuthChecker} from '../../src/core/http-auth.js'
import {createLogger} from '../../src/core/log.js'
import {loadBrokerConfig, startBrokerProcess} from '../../src/system/broker.js'
import {RUN} from '../helpers/cli.js'

const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`

describe('basic auth on the OSB API', () => {
  const authorized = basicAuthChecker({username: 'broker', password: 's3cret:with:colons'})

  it('lets the right user and password in', () => {
    expect(authorized(basic('broker:s3cret:with:colons'))).toBe(true)
  })

  it('refuses a wrong password, a wrong user, or a prefix of the right password', () => {
    expect(authorized(basic('broker:wrong'))).toBe(false)
    expect(authorized(basic('admin:s3cret:with:colons'))).toBe(false)
    expect(authorized(basic('broker:s3cret'))).toBe(false)
    expect(authorized(basic('broker:s3cret:with:colons '))).toBe(false)
  })

  it('refuses a missing header, another scheme and garbage', () => {
    for (const header of [
      undefined,
      '',
      'Basic',
      'Basic ',
      'Bearer abc',
      'basic ' + basic('broker:s3cret:with:colons').slice(6),
      'Basic !!!not base64!!!',
      '\u0000',
    ]) {
      expect(authorized(header), JSON.stringify(header)).toBe(false)
    }
  })
})

describe('the admin API has credentials of its own', () => {
  const OSB = {username: 'platform', password: 'osb-password-0123'}
  const ADMIN = {username: 'ops', password: 'admin-password-0123'}

  it('a broker without admin credentials does not start: the OSB credentials never open the admin API by default', () => {
    expect(() => loadBrokerConfig(undefined, {osb: OSB, store: 'sqlite::memory:'})).toThrow(
      /admin: the admin API needs its own credentials/,
    )
  })

  it('the OSB credentials get 401 from every admin route; the admin ones get in', async () => {
    const broker = await startBrokerProcess(
      loadBrokerConfig(undefined, {osb: OSB, admin: ADMIN, store: 'sqlite::memory:', listen: '127.0.0.1:0'}),
      createLogger('silent'),
    )
    try {
      for (const [method, path] of [
        ['GET', '/admin/v1/hosts'],
        ['GET', '/admin/v1/instances'],
        ['POST', '/admin/v1/hosts/h1/enroll'],
        ['GET', '/admin/v1/enrollments'],
        ['POST', '/admin/v1/hosts/h1/drain'],
      ]) {
        const response = await fetch(`${broker.url}${path}`, {
          method,
          headers: {authorization: basic(`${OSB.username}:${OSB.password}`)},
        })
        expect(response.status, path).toBe(401)
      }
      expect(
        (
          await fetch(`${broker.url}/admin/v1/hosts`, {
            headers: {authorization: basic(`${ADMIN.username}:${ADMIN.password}`)},
          })
        ).status,
      ).toBe(200)
      expect(
        (
          await fetch(`${broker.url}/v2/catalog`, {
            headers: {authorization: basic(`${OSB.username}:${OSB.password}`), 'x-broker-api-version': '2.17'},
          })
        ).status,
      ).toBe(200)
    } finally {
      await broker.close()
    }
  })

  it('`dbroker broker start` without admin credentials exits at once with a message that says what to set', () => {
    const run = spawnSync(
      process.execPath,
      [RUN, 'broker', 'start', '--username', 'platform', '--store', 'sqlite::memory:', '--listen', '127.0.0.1:0'],
      {
        encoding: 'utf8',
        timeout: 20_000,
        env: {...process.env, DBROKER_PASSWORD: OSB.password, DBROKER_ADMIN_USERNAME: '', DBROKER_ADMIN_PASSWORD: ''},
      },
    )
    expect(run.stderr).toMatch(
      /admin: the admin API needs its own credentials: set admin.username and admin.password \(or --admin-username and DBROKER_ADMIN_PASSWORD\)/,
    )
    expect(run.status).toBe(2)
    expect(run.stdout).toBe('')
  })
})
