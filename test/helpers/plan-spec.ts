import {instanceCredentials} from '../../src/broker/credentials.js'
import {buildSpec} from '../../src/broker/spec.js'
import {parseCatalog} from '../../src/catalog/index.js'
import type {ContainerSpec, Host} from '../../src/core/types.js'

export const KV_PLAN_ID = '22222222-2222-4222-8222-222222222222'

/** A one-plan catalog of `example/kv:1`; `container` adds lines to its container (indented 10 spaces). */
export const kvPlanCatalog = (container = '') => `services:
  - id: 11111111-1111-4111-8111-111111111111
    name: kv
    description: a key-value store
    bindable: true
    plans:
      - id: ${KV_PLAN_ID}
        name: small
        description: small
        container:
          image: example/kv:1
          ports: [6379]
          credentials: {env: {password: PASSWORD}}
          uri: kv://{host}:{port}
${container}
`

/** An alive host `h1` with ports 41000-41099. */
export const testHost: Host = {
  id: 'h1',
  serviceAddress: '127.0.0.1',
  bindAddress: '127.0.0.1',
  agentUrl: null,
  portMin: 41000,
  portMax: 41099,
  status: 'alive',
  drained: false,
  zone: null,
  labels: {},
  facts: null,
  lastHeartbeat: 0,
  capacity: {maxContainers: null, memoryBytes: null},
  keepaliveMs: null,
}

/** The spec a provision of the kv plan on `testHost` makes. */
export function kvPlanSpec(container: string): ContainerSpec {
  const {service, plan} = parseCatalog(kvPlanCatalog(container), 'catalog.yml').plan(KV_PLAN_ID)!
  return buildSpec({
    instanceId: 'i-1',
    installationId: 'a1b2c3d4e5f6',
    service,
    plan,
    host: testHost,
    ports: [{container: 6379, host: 41000, protocol: 'tcp'}],
    credentials: instanceCredentials(plan),
    parameters: {},
  })
}
