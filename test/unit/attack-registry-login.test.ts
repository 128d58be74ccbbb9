import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {RequestMeta} from '../../src/broker/lifecycle/index.js'
import {KV, kvCatalog} from '../helpers/fake-agent.js'
import {ADMIN, basic, startRegistryAuthBroker, type RegistryAuthBroker} from '../helpers/registry-auth-broker.js'

// Attack: a host holds its own token only (semi-trusted). A private registry's login lives in the broker, and
// an agent fetches it right before a pull. Host A asks for the login of an image that only host B runs, as
// itself and as host B: it must get neither the password nor anything that says what it is.

const PASSWORD = 'registry-secret-4242'
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

describe("a host's token opens only the registry logins of images its own containers use", () => {
  let broker: RegistryAuthBroker
  beforeEach(async () => {
    broker = await startRegistryAuthBroker(kvCatalog)
  })
  afterEach(() => broker.close())

  const admin: RegistryAuthBroker['admin'] = (...args) => broker.admin(...args)
  const asHost: RegistryAuthBroker['asHost'] = (...args) => broker.asHost(...args)
  const enroll = async (host: string) =>
    (await admin('POST', `/admin/v1/hosts/${host}/enroll`)).json<{token: string}>().token
  const register = (token: string, id: string, port: number) =>
    asHost(token, 'register', {
      id,
      agentUrl: `https://${id}.example:9997`,
      serviceAddress: `${id}.example`,
      bindAddress: '0.0.0.0',
      portRange: [port, port + 10],
      facts: null,
    })

  it("host A gets no login for host B's image, neither as itself nor as B; B gets it", async () => {
    const tokenB = await enroll('host-b')
    expect((await register(tokenB, 'host-b', 40000)).statusCode).toBe(200)
    // Only host B is there: the instance, and its image example/kv:1 (Docker Hub), are B's.
    expect(
      (await broker.provisioner.provision('i1', {...KV, organization_guid: 'o', space_guid: 's'}, sync)).status,
    ).toBe(201)
    const tokenA = await enroll('host-a')
    expect((await register(tokenA, 'host-a', 41000)).statusCode).toBe(200)
    expect(
      (await admin('PUT', '/admin/v1/registries/docker.io', {username: 'puller', password: PASSWORD})).statusCode,
    ).toBe(200)

    const asItself = await asHost(tokenA, 'registry-auth', {id: 'host-a', image: 'example/kv:1'})
    expect(asItself.statusCode).toBe(403)
    expect(asItself.body).not.toContain(PASSWORD)
    expect(asItself.body).not.toContain('puller')
    const asB = await asHost(tokenA, 'registry-auth', {id: 'host-b', image: 'example/kv:1'})
    expect(asB.statusCode).toBe(403)
    expect(asB.body).not.toContain(PASSWORD)

    const own = await asHost(tokenB, 'registry-auth', {id: 'host-b', image: 'example/kv:1'})
    expect(own.statusCode).toBe(200)
    expect(own.json()).toEqual({
      auth: {username: 'puller', password: PASSWORD, serveraddress: 'https://index.docker.io/v1/'},
    })
    // The admin API lists logins without their passwords.
    const listed = await broker.app.inject({
      method: 'GET',
      url: '/admin/v1/registries',
      headers: {authorization: basic(ADMIN)},
    })
    expect(listed.body).not.toContain(PASSWORD)
  })
})
