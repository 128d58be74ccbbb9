import {writeFileSync} from 'node:fs'
import path from 'node:path'

import {defaultCatalogPath} from '../../src/catalog/index.js'

/** A Redis service that is not in the default catalog, to add at runtime: its ids and a services file for it. */
export const CACHE = {
  service_id: '5d1c0a3e-8f0b-4c57-9a57-1f4d2c6b7e01',
  plan_id: '6e2d1b4f-9a1c-4d68-8b68-2a5e3d7c8f02',
  second_plan_id: '7f3e2c5a-0b2d-4e79-9c79-3b6f4e8d9a03',
}

/** The services file of `cache` (the catalog file's shape); `plans: 2` adds a second plan, `extra` goes into the plan. */
export function cacheServiceYaml(options: {plans?: 1 | 2; description?: string; planExtra?: string} = {}): string {
  const plan = (id: string, name: string) => `      - id: ${id}
        name: ${name}
        description: Redis 7 for caches
        client: redis-cli
${options.planExtra ?? ''}        container:
          image: dbroker/redis:7
          build: ${path.join(path.dirname(defaultCatalogPath), 'redis')}
          ports: [6379]
          volumes: [/data]
          memory: 64m
          credentials:
            username: default
            env: {password: REDIS_PASSWORD}
          binding_credentials: per-binding
          hooks: {bind: [/dbroker/bind], unbind: [/dbroker/unbind]}
          uri: redis://{username}:{password}@{host}:{port}
          readiness: {probe: tcp, port: 6379, send: "PING\\r\\n", expect: "^(\\\\+PONG|-NOAUTH)", timeout: 60s}
`
  return `services:
  - id: ${CACHE.service_id}
    name: cache
    description: ${options.description ?? 'A Redis cache added at runtime'}
    bindable: true
    plan_updateable: true
    plans:
${plan(CACHE.plan_id, 'small')}${options.plans === 2 ? plan(CACHE.second_plan_id, 'large') : ''}`
}

export function writeCacheService(dir: string, name: string, options: Parameters<typeof cacheServiceYaml>[0] = {}) {
  const file = path.join(dir, name)
  writeFileSync(file, cacheServiceYaml(options))
  return file
}
