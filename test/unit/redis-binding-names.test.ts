import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {bindingUser, instanceCredentials} from '../../src/broker/credentials.js'
import {loadCatalog} from '../../src/catalog/index.js'
import type {ServiceInstance} from '../../src/core/types.js'

// The redis image keeps only users named the way the broker names them; the two must not drift apart.
const aclRules = readFileSync(new URL('../../images/redis/acl.sh', import.meta.url), 'utf8')
const pattern = new RegExp(/^DBROKER_BINDING_USER_PATTERN='([^']+)'$/m.exec(aclRules)![1])

describe('redis binding user names', () => {
  it('every user the broker makes for a redis binding is one the image keeps at start', () => {
    const redis = loadCatalog().plan('9224c565-e657-4b4e-8048-c400aea5257c')!.plan
    const instance = {credentials: instanceCredentials(redis)} as ServiceInstance
    for (let i = 0; i < 200; i++) expect(bindingUser(instance, redis).username).toMatch(pattern)
  })

  it('neither default nor the admin user nor a made-up name passes for a binding user', () => {
    for (const name of ['default', 'dbroker-admin', 'backdoor', 'b', 'bABCDEFGHIJKL', 'b0123456789ab-x'])
      expect(name).not.toMatch(pattern)
  })
})
