import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {RequestMeta} from '../../src/broker/lifecycle/index.js'
import {parseCatalog} from '../../src/catalog/index.js'
import {startRegistryAuthBroker, type RegistryAuthBroker} from '../helpers/registry-auth-broker.js'

// Attack: a host (semi-trusted: its own token only) that runs no image of Docker Hub is given a static plan's
// instance (static instances run nothing and are placed on any live host). Its record names the image "static",
// which reads as a Docker Hub image, so the host's token obtains the operator's Docker Hub login by asking for
// image "static" (or "existing" for an adopted container): a login none of its containers pulls with.
const PASSWORD = 'registry-secret-4242'
const STATIC = {service_id: '33333333-3333-4333-8333-333333333333', plan_id: '44444444-4444-4444-8444-444444444444'}
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

const catalog = () =>
  parseCatalog(
    `services:
  - id: ${STATIC.service_id}
    name: legacy
    description: the operator's database
    bindable: true
    plans:
      - id: ${STATIC.plan_id}
        name: static
        description: given credentials
        kind: {static: {credentials: {host: db.example, port: 5432, username: ops, password: given-pw-123, uri: "postgresql://db.example/x"}}}
`,
    'catalog.yml',
  )

describe('a host with only a static instance gets no registry login', () => {
  let broker: RegistryAuthBroker
  beforeEach(async () => {
    broker = await startRegistryAuthBroker(catalog)
  })
  afterEach(() => broker.close())

  const admin: RegistryAuthBroker['admin'] = (...args) => broker.admin(...args)
  const asHost: RegistryAuthBroker['asHost'] = (...args) => broker.asHost(...args)

  it('asking for the image its static instance "names" gives no Docker Hub login', async () => {
    const token = (await admin('POST', '/admin/v1/hosts/host-a/enroll')).json<{token: string}>().token
    const registered = await asHost(token, 'register', {
      id: 'host-a',
      agentUrl: 'https://host-a.example:9997',
      serviceAddress: 'host-a.example',
      bindAddress: '0.0.0.0',
      portRange: [40000, 40010],
      facts: null,
    })
    expect(registered.statusCode).toBe(200)
    expect(
      (await broker.provisioner.provision('i1', {...STATIC, organization_guid: 'o', space_guid: 's'}, sync)).status,
    ).toBe(201)
    expect((await broker.store.getInstance('i1'))?.hostId).toBe('host-a')
    expect(
      (await admin('PUT', '/admin/v1/registries/docker.io', {username: 'puller', password: PASSWORD})).statusCode,
    ).toBe(200)

    for (const image of ['static', 'existing', '']) {
      const asked = await asHost(token, 'registry-auth', {id: 'host-a', image})
      expect(asked.body, `image "${image}"`).not.toContain(PASSWORD)
    }
  })
})
