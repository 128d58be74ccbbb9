import type {BrokerTarget, CatalogService, LastOperation, OsbReply} from '../../src/client/broker-client.js'
import type {InstanceDetail, InstanceView} from '../../src/core/admin.js'
import type {InstanceState} from '../../src/core/types.js'
import type {CliBroker} from '../../src/cli/services/broker.js'

const plans = (service: string) =>
  ['small', 'medium'].map((p) => ({id: `${service}-${p}`, name: p, description: `${service} ${p}`}))

export const FAKE_CATALOG: CatalogService[] = ['redis', 'postgresql'].map((name) => ({
  id: `${name}-id`,
  name,
  description: name,
  bindable: true,
  plans: plans(name),
}))

/**
 * The OSB and admin API of a broker in memory, for the CLI's services: names
 * are unique as the broker keeps them (a taken name leaves the new instance
 * unnamed), provisions take `pollsUntilReady` last_operation polls.
 */
export class FakeBroker implements CliBroker {
  readonly calls: string[] = []
  readonly instancesById = new Map<string, InstanceDetail>()
  pollsUntilReady = 2
  /** Runs just before a provision is stored, to stage a race. */
  beforeProvision?: () => void
  private polls = new Map<string, number>()

  constructor(
    readonly target: BrokerTarget = {
      url: 'http://fake',
      username: 'u',
      password: 'p',
      adminUsername: 'a',
      adminPassword: 'b',
    },
  ) {}

  add(
    id: string,
    name: string | null,
    service: 'redis' | 'postgresql',
    plan: 'small' | 'medium',
    state: InstanceState = 'ready',
  ): InstanceDetail {
    const instance: InstanceDetail = {
      id,
      name,
      service,
      plan,
      serviceId: `${service}-id`,
      planId: `${service}-${plan}`,
      hostId: 'local',
      address: '127.0.0.1',
      ports: [],
      state,
      container: null,
      stats: null,
      createdAt: 0,
      image: `dbroker/${service}`,
      memoryLimitBytes: null,
      nanoCpus: null,
      parameters: {},
      context: {},
      volumes: [],
      bindings: [],
      lastOperation: null,
    }
    this.instancesById.set(id, instance)
    return instance
  }

  async catalog() {
    return FAKE_CATALOG
  }

  async provision(
    id: string,
    body: {service_id?: unknown; plan_id?: unknown; context?: {instance_name?: string}},
  ): Promise<OsbReply> {
    this.beforeProvision?.()
    const service = FAKE_CATALOG.find((s) => s.id === body.service_id)!
    const plan = service.plans.find((p) => p.id === body.plan_id)!
    const wanted = body.context?.instance_name
    const name = wanted && !this.byName(wanted) ? wanted : null
    this.calls.push(`provision ${service.name}/${plan.name} ${wanted ?? '-'}`)
    this.add(id, name, service.name as 'redis', plan.name as 'small', 'provisioning')
    return {status: 202, body: {operation: `op-${id}`}}
  }

  async lastOperation(id: string): Promise<LastOperation> {
    const instance = this.instancesById.get(id)
    if (!instance) return {state: 'succeeded'}
    if (!['provisioning', 'deprovisioning', 'updating'].includes(instance.state)) return {state: 'succeeded'}
    const polls = (this.polls.get(id) ?? 0) + 1
    this.polls.set(id, polls)
    if (polls < this.pollsUntilReady) return {state: 'in progress', description: `${instance.state} ${id}`}
    if (this.failWith !== undefined) return {state: 'failed', description: this.failWith}
    if (instance.state === 'deprovisioning') this.instancesById.delete(id)
    else instance.state = 'ready'
    return {state: 'succeeded'}
  }

  async deprovision(id: string): Promise<OsbReply> {
    this.calls.push(`deprovision ${id}`)
    const instance = this.instancesById.get(id)
    if (!instance) return {status: 410, body: {}}
    instance.state = 'deprovisioning'
    this.polls.delete(id)
    return {status: 202, body: {operation: `op-d-${id}`}}
  }

  /** While set, every operation ends failed with this description. */
  failWith?: string

  /** The clock bindings are stamped with, as the broker's. */
  now = () => Date.now()
  private readonly secrets = new Map<string, Record<string, unknown>>()
  /** What an instance's bindings get besides the usual fields (a shared redis plan's key_prefix), by instance id. */
  readonly namespaces = new Map<string, Record<string, unknown>>()

  async bind(id: string, bindingId: string, body: {context?: Record<string, unknown>} = {}): Promise<OsbReply> {
    this.calls.push(`bind ${this.instancesById.get(id)?.name ?? id}`)
    const context = body.context ?? {}
    const ttl = context.dbroker_ttl_seconds
    const createdAt = this.now()
    this.instancesById.get(id)!.bindings.push({
      id: bindingId,
      state: 'bound',
      appGuid: null,
      createdAt,
      context,
      expiresAt: typeof ttl === 'number' ? createdAt + ttl * 1000 : null,
    })
    const credentials = {
      host: '127.0.0.1',
      port: 6379,
      username: `u-${bindingId.slice(0, 8)}`,
      password: `pw-${bindingId}`,
      uri: `redis://x@fake/${id}/${bindingId}`,
      ...this.namespaces.get(id),
    }
    this.secrets.set(bindingId, credentials)
    return {status: 201, body: {credentials}}
  }

  async instance(ref: string, options: {credentials?: boolean} = {}): Promise<InstanceDetail> {
    const found = await this.findInstance(ref)
    if (!found) throw new Error(`no instance ${ref}`)
    if (options.credentials) for (const b of found.bindings) b.credentials = this.secrets.get(b.id)
    return found
  }

  /** PATCH: moves the plan at once; the `updating` state lasts `pollsUntilReady` polls. */
  async update(id: string, body: {plan_id?: string; parameters?: Record<string, unknown>}): Promise<OsbReply> {
    this.calls.push(`update ${id} ${body.plan_id ?? '-'} ${JSON.stringify(body.parameters ?? {})}`)
    const instance = this.instancesById.get(id)!
    if (body.plan_id) instance.planId = body.plan_id
    Object.assign(instance.parameters, body.parameters)
    instance.state = 'updating'
    this.polls.delete(id)
    return {status: 202, body: {operation: `op-u-${id}`}}
  }

  async unbind(id: string, bindingId: string): Promise<OsbReply> {
    this.calls.push(`unbind ${bindingId}`)
    const instance = this.instancesById.get(id)!
    const before = instance.bindings.length
    instance.bindings = instance.bindings.filter((b) => b.id !== bindingId)
    return {status: instance.bindings.length < before ? 200 : 410, body: {}}
  }

  private byName(name: string) {
    return [...this.instancesById.values()].find((i) => i.name === name)
  }

  async findInstance(ref: string): Promise<InstanceDetail | undefined> {
    if (!this.target.adminPassword) throw new Error('no admin credentials')
    const found = this.instancesById.get(ref) ?? this.byName(ref)
    return found && structuredClone(found)
  }

  async instances(): Promise<InstanceView[]> {
    return [...this.instancesById.values()]
  }

  async remove(ref: string) {
    this.calls.push(`remove ${ref}`)
    this.instancesById.delete(ref)
    return {id: ref}
  }
}
