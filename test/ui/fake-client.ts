import type {ChangeEvent, HostView, InstanceDetail, InstanceView} from '../../src/core/admin.js'
import type {DeployedContainerDetail} from '../../src/core/deployments.js'
import type {TopClient} from '../../src/ui/top/client.js'
import {until as waitUntil} from '../helpers/until.js'

export function fakeHost(id = 'local', over: Partial<HostView> = {}): HostView {
  return {
    id,
    status: 'alive',
    heartbeatAgeMs: 2000,
    lastHeartbeat: Date.now() - 2000,
    serviceAddress: '127.0.0.1',
    agentUrl: null,
    portRange: [40000, 40999],
    drained: false,
    zone: null,
    instances: 1,
    facts: {
      engineVersion: '20.10.24',
      cpus: 2,
      memoryBytes: 8 * 1024 ** 3,
      containersRunning: 3,
      registryMirrors: ['http://mirror:5000'],
      insecureRegistries: ['10.0.0.0/8'],
      loggingDriver: 'json-file',
    },
    ...over,
  }
}

export function fakeInstance(n: number, over: Partial<InstanceView> = {}): InstanceView {
  return {
    id: `id-${String(n).padStart(4, '0')}`,
    name: `inst-${String(n).padStart(4, '0')}`,
    service: n % 2 ? 'postgresql' : 'redis',
    plan: 'small',
    serviceId: 's',
    planId: 'p',
    hostId: 'local',
    address: '127.0.0.1',
    ports: [{container: 6379, host: 40000 + n, protocol: 'tcp'}],
    state: 'ready',
    container: {
      status: 'running',
      health: 'healthy',
      restartCount: n % 3,
      startedAt: new Date(Date.now() - 60_000 * n).toISOString(),
    },
    stats: {cpuPercent: n % 10, memoryBytes: (n + 1) * 1024 * 1024, memoryLimitBytes: 128 * 1024 * 1024},
    createdAt: n,
    ...over,
  }
}

/** A container of manifest deployment `shop` on host `local`, as `top` lists it: service deploy, plan the deployment. */
export function fakeDeployed(container: string, over: Partial<InstanceView> = {}): InstanceView {
  return fakeInstance(9, {
    id: `deploy:shop:local:${container}`,
    name: container,
    service: 'deploy',
    plan: 'shop',
    serviceId: '',
    planId: '',
    ports: [{container: 6379, host: 41000, protocol: 'tcp'}],
    stats: null,
    ...over,
  })
}

/** A broker in memory: records actions, lets a test push events and log lines. */
export class FakeClient implements TopClient {
  calls: string[] = []
  private listeners = new Set<(event: ChangeEvent) => void>()
  logLines: string[] = []
  /** While set, hosts() and instances() wait for it: a broker that has not answered yet. */
  gate?: Promise<void>

  constructor(
    public hostList: HostView[] = [fakeHost()],
    public instanceList: InstanceView[] = [fakeInstance(1), fakeInstance(2)],
  ) {}

  /** While set, every call fails as it does when the broker is down. */
  down = false
  private eventEnds = new Set<() => void>()

  private reachable() {
    if (this.down) throw new Error('cannot reach the broker at http://broker (ECONNREFUSED)')
  }

  async hosts() {
    await this.gate
    this.reachable()
    return this.hostList
  }

  async instances() {
    await this.gate
    this.reachable()
    return this.instanceList
  }

  /** Ends every open event stream, as a broker that stops does. */
  endEventStreams() {
    for (const end of this.eventEnds) end()
  }

  async instance(ref: string, options: {credentials?: boolean} = {}): Promise<InstanceDetail> {
    this.calls.push(`instance ${ref}${options.credentials ? ' credentials' : ''}`)
    const base = this.instanceList.find((i) => i.id === ref)!
    return {
      ...base,
      image: 'dbroker/redis:7',
      memoryLimitBytes: 128 * 1024 * 1024,
      nanoCpus: 5e8,
      parameters: {},
      context: {},
      volumes: [{name: 'vol', path: '/data'}],
      bindings: [
        {
          id: 'b-1',
          state: 'bound',
          appGuid: null,
          createdAt: 1,
          ...(options.credentials
            ? {
                credentials: {
                  username: 'bob',
                  password: 'hunter2secret',
                  uri: 'redis://bob:hunter2secret@127.0.0.1:40001',
                },
              }
            : {}),
        },
      ],
      lastOperation: {kind: 'provision', state: 'succeeded', description: 'the instance is ready', updatedAt: 1},
    }
  }

  async deployedContainer(id: string): Promise<DeployedContainerDetail> {
    this.calls.push(`deployed ${id}`)
    const base = this.instanceList.find((i) => i.id === id)
    if (!base) throw new Error(`no deployed container has the id ${id}`)
    return {
      ...base,
      deployment: base.plan,
      deployState: 'ready',
      error: null,
      image: 'dbroker/redis:7',
      dependsOn: ['db'],
      containerName: `dbroker.shop.${base.name}`,
      restart: 'unless-stopped',
      stats: {cpuPercent: 3.5, memoryBytes: 5 * 1024 * 1024, memoryLimitBytes: 64 * 1024 * 1024},
      memoryLimitBytes: 64 * 1024 * 1024,
      nanoCpus: null,
      volumes: [{name: 'dbroker-shop-cache-data', path: '/data'}],
      binds: [{source: '/srv/conf', path: '/etc/redis', readOnly: true}],
      disk: null,
      network: {name: 'dbroker-i1.shop', aliases: [base.name ?? '']},
    }
  }

  /** While set, logs() fails as a broker that is down does. */
  logsDown = false
  private logEnds = new Set<() => void>()

  async *logs(_ref: string, options: {signal?: AbortSignal; onOpen?: () => void}): AsyncIterable<string> {
    this.calls.push('logs')
    if (this.logsDown) throw new Error('cannot reach the broker at http://broker (ECONNREFUSED)')
    options.onOpen?.()
    yield this.logLines.map((l) => `${l}\n`).join('')
    await new Promise<void>((resolve) => {
      this.logEnds.add(resolve)
      options.signal?.addEventListener('abort', () => resolve())
    })
  }

  /** Ends every open log stream, as a broker that shuts down does. */
  endLogStreams() {
    for (const end of this.logEnds) end()
    this.logEnds.clear()
  }

  async *events(signal?: AbortSignal, onOpen?: () => void): AsyncIterable<ChangeEvent> {
    this.reachable()
    onOpen?.()
    let ended = false
    const end = () => {
      ended = true
      wake?.()
    }
    this.eventEnds.add(end)
    const queue: ChangeEvent[] = []
    let wake: (() => void) | undefined
    const push = (event: ChangeEvent) => {
      queue.push(event)
      wake?.()
    }
    this.listeners.add(push)
    signal?.addEventListener('abort', () => wake?.())
    try {
      while (!signal?.aborted && !ended) {
        if (queue.length) yield queue.shift()!
        else await new Promise<void>((resolve) => (wake = resolve))
      }
    } finally {
      this.listeners.delete(push)
      this.eventEnds.delete(end)
    }
  }

  /** What the broker saw before top started, oldest first, as GET /admin/v1/events/recent answers. */
  recent: ChangeEvent[] = []

  async recentEvents(limit = 1000): Promise<ChangeEvent[]> {
    this.reachable()
    return this.recent.slice(-limit)
  }

  emit(event: Omit<ChangeEvent, 'at'>) {
    for (const listener of this.listeners) listener({...event, at: Date.now()})
  }

  async restart(ref: string) {
    this.calls.push(`restart ${ref}`)
    return {id: ref}
  }

  async remove(ref: string) {
    this.calls.push(`remove ${ref}`)
    this.instanceList = this.instanceList.filter((i) => i.id !== ref)
    return {id: ref}
  }
}

export const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

/** The shared wait, at a screen's pace: a short deadline, a probe every 10 ms. */
export async function until(check: () => boolean, timeoutMs = 2000) {
  await waitUntil('the screen condition', check, {timeoutMs, everyMs: 10})
}

interface Rendered {
  lastFrame: () => string | undefined
  stdin: {write: (data: string) => void}
}

/** Waits until the screen draws a frame other than `before`; the frame. */
export async function waitForChange(view: Rendered, before: string | undefined, timeoutMs = 2000): Promise<string> {
  try {
    await until(() => view.lastFrame() !== before, timeoutMs)
  } catch {
    throw new Error(`the frame did not change; it shows:\n${before}`)
  }
  return view.lastFrame()!
}

/** Types each key and waits for the frame it changes; the last frame. */
export async function sendInputAndWaitForChange(view: Rendered, ...keys: string[]): Promise<string> {
  let frame = view.lastFrame()
  for (const key of keys) {
    view.stdin.write(key)
    frame = await waitForChange(view, frame)
  }
  return frame!
}

/** Types the keys without waiting: each must land even before the screen draws again. */
export function type(view: Rendered, ...keys: string[]): void {
  for (const key of keys) view.stdin.write(key)
}
