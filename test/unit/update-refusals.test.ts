import {describe, expect, it} from 'vitest'

import {parseCatalog} from '../../src/catalog/index.js'
import type {RequestMeta} from '../../src/broker/osb-schema.js'
import {FakeAgent} from '../helpers/fake-agent.js'
import {fakeLifecycle} from '../helpers/lifecycle.js'

const SERVICE = '11111111-1111-4111-8111-111111111111'
const SMALL = '22222222-2222-4222-8222-222222222222'
const MEDIUM = '33333333-3333-4333-8333-333333333333'
const sync: RequestMeta = {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null}

const plan = (id: string, name: string, updateable: string) => `      - id: ${id}
        name: ${name}
        description: ${name}
${updateable}        container:
          image: example/kv:1
          ports: [6379]
          credentials: {env: {password: PASSWORD}}
          uri: kv://{host}:{port}
`

/** Service kv with plans small and medium; `small` is what the service or the plan says of plan_updateable. */
const catalog = (service: string, small: string) =>
  parseCatalog(
    `services:
  - id: ${SERVICE}
    name: kv
    description: kv
    bindable: true
${service}    plans:
${plan(SMALL, 'small', small)}${plan(MEDIUM, 'medium', '')}`,
    'catalog.yml',
  )

async function refusal(service: string, small: string): Promise<unknown> {
  const {provisioner, store} = await fakeLifecycle(new FakeAgent(), catalog(service, small))
  try {
    const body = {service_id: SERVICE, plan_id: SMALL, organization_guid: 'o', space_guid: 's'}
    expect((await provisioner.provision('i1', body, sync)).status).toBe(201)
    return await provisioner.update('i1', {service_id: SERVICE, plan_id: MEDIUM}, sync).then(
      () => new Error('the update was not refused'),
      (error: unknown) => error,
    )
  } finally {
    await store.close()
  }
}

describe('an update to another plan that the current plan forbids', () => {
  it('names the plan asked for and the current one, and which one is not plan_updateable', async () => {
    const message =
      'instance i1 cannot move from plan small to plan medium of kv: plan small is not plan_updateable; provision a new instance of plan medium instead'
    expect(await refusal('    plan_updateable: false\n', '')).toMatchObject({status: 422, message})
    expect(await refusal('    plan_updateable: true\n', '        plan_updateable: false\n')).toMatchObject({
      status: 422,
      message,
    })
  })
})
