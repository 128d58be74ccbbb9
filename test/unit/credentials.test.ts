import {describe, expect, it} from 'vitest'

import {
  bindingCredentials,
  bindingUser,
  instanceCredentials,
  instanceSlug,
  randomSecret,
  renderUri,
} from '../../src/broker/credentials.js'
import {loadCatalog} from '../../src/catalog/index.js'
import type {ServiceInstance} from '../../src/core/types.js'

const catalog = loadCatalog()
const redis = catalog.plan('9224c565-e657-4b4e-8048-c400aea5257c')!.plan
const postgres = catalog.plan('007b1e94-65ac-4cc9-a4fa-6eecaf6c126a')!.plan

describe('generated credentials', () => {
  it('a secret is at least 24 letters and digits from the CSPRNG, never twice the same', () => {
    const secrets = Array.from({length: 200}, () => randomSecret())
    for (const s of secrets) {
      expect(s.length).toBeGreaterThanOrEqual(24)
      expect(s).toMatch(/^[A-Za-z0-9]+$/)
    }
    expect(new Set(secrets).size).toBe(secrets.length)
    // Over many draws every class of the alphabet shows up: it is not accidentally narrowed.
    const all = secrets.join('')
    expect(all).toMatch(/[A-Z]/)
    expect(all).toMatch(/[a-z]/)
    expect(all).toMatch(/[0-9]/)
  })

  it('an instance gets a strong password; postgresql also a database and user that are safe identifiers', () => {
    const r = instanceCredentials(redis)
    expect(r.username).toBe('default')
    expect(r.password.length).toBeGreaterThanOrEqual(24)
    expect(r.database).toBeUndefined()
    const p = instanceCredentials(postgres)
    expect(p.username).toMatch(/^u[a-z0-9]{12}$/)
    expect(p.database).toMatch(/^db[a-z0-9]{12}$/)
  })

  it('each binding of a per-binding plan gets its own user', () => {
    const instance = {credentials: instanceCredentials(redis)} as ServiceInstance
    const a = bindingUser(instance, redis)
    const b = bindingUser(instance, redis)
    expect(a.username).not.toBe(b.username)
    expect(a.username).not.toBe('default')
    expect(a.password.length).toBeGreaterThanOrEqual(24)
  })

  it('renderUri percent-encodes every field, so any password makes a valid uri', () => {
    const uri = renderUri('postgresql://{username}:{password}@{host}:{port}/{database}', {
      username: 'app user',
      password: 'p@ss/w:rd?#%',
      host: '10.0.0.1',
      port: 41000,
      database: 'db',
    })
    expect(uri).toBe('postgresql://app%20user:p%40ss%2Fw%3Ard%3F%23%25@10.0.0.1:41000/db')
    const parsed = new URL(uri)
    expect(decodeURIComponent(parsed.password)).toBe('p@ss/w:rd?#%')
    expect(renderUri('x://{host}/{database}', {host: 'h'})).toBe('x://h/')
  })

  it('binding credentials carry host, port, user, password, uri and the database for postgresql', () => {
    const credentials = instanceCredentials(postgres)
    const instance = {
      id: 'i',
      name: null,
      credentials,
      spec: {ports: [{container: 5432, host: 41007, protocol: 'tcp'}]},
    } as unknown as ServiceInstance
    const out = bindingCredentials(instance, postgres, {serviceAddress: '10.1.2.3'}, {username: 'bx', password: 'pw'})
    expect(out).toEqual({
      host: '10.1.2.3',
      port: 41007,
      username: 'bx',
      password: 'pw',
      database: credentials.database,
      uri: `postgresql://bx:pw@10.1.2.3:41007/${credentials.database}`,
    })
  })

  it('an instance id that is not a Docker name becomes "_" and its full digest, a form no literal id takes', () => {
    expect(instanceSlug('t-i-0123')).toBe('t-i-0123')
    expect(instanceSlug('a/b c')).toMatch(/^_[0-9a-f]{64}$/)
    expect(instanceSlug('x'.repeat(49))).toMatch(/^_[0-9a-f]{64}$/)
  })
})
