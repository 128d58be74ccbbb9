import {statSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {type OperatorSandbox, startSandbox} from '../helpers/operator.js'

const port = 42000 + Math.floor(Math.random() * 100)

describe('the operator CLI against a real dbroker up --detach', () => {
  let box: OperatorSandbox
  beforeAll(async () => {
    box = await startSandbox({port, portRange: [42300, 42349]})
  })
  afterAll(async () => {
    await box?.stop()
  })

  it('up --detach writes the local context, readable only by its owner', async () => {
    const file = path.join(box.configDir, 'contexts.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const list = await box.cli(['context', 'list', '--json'])
    expect(list.code).toBe(0)
    const envelope = JSON.parse(list.stdout)
    expect(envelope.status).toBe(0)
    expect(envelope.result.current).toBe('local')
    expect(envelope.result.contexts[0]).toMatchObject({name: 'local', url: box.url, username: 'broker', admin: 'admin'})
    expect(list.stdout).not.toMatch(/password/i)
  })

  it('eval "$(dbroker bind redis --format env)" gives a redis that answers PONG, and the next bind reuses the instance', async () => {
    const first = box.sh(
      'eval "$(dbroker bind redis --format env)" && redis-cli -u "$REDIS_URL" --no-auth-warning ping && echo "$REDIS_HOST:$REDIS_PORT $REDIS_USERNAME"',
    )
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^PONG\n127\.0\.0\.1:423\d\d b\w+\n$/)
    const second = box.sh(
      'eval "$(dbroker bind redis --format env --prefix CACHE)" && redis-cli -u "$CACHE_URL" --no-auth-warning ping',
    )
    expect(second.stdout.trim()).toBe('PONG')
    const instances = JSON.parse((await box.cli(['instances', '--json'])).stdout)
    expect(instances.status).toBe(0)
    expect(instances.result.filter((i: {name: string}) => i.name === 'redis')).toHaveLength(1)
    const detail = instances.result[0]
    expect(detail).toMatchObject({service: 'redis', plan: 'small', hostId: 'local', state: 'ready'})
    expect(detail.container.status).toBe('running')
  })

  it('prints plain aligned tables without a terminal, and the top snapshot exits 0', async () => {
    const ls = await box.cli(['ls'])
    expect(ls.code).toBe(0)
    expect(ls.stdout.split('\n')[0]).toMatch(
      /^NAME\s+ID\s+SERVICE\s+HEALTH\s+HOST\s+ENDPOINT\s+RESTARTS\s+UPTIME\s+CPU\s+MEM$/,
    )
    expect(ls.stdout).not.toContain('\u001B[')
    const hosts = await box.cli(['hosts'])
    expect(hosts.stdout).toMatch(/local\s+alive/)
    expect(hosts.stdout).toMatch(/LOGGING\s+MIRRORS\s+INSECURE/)
    // up's own in-process agent needs no token: no enrollment advice for it.
    expect(hosts.stdout).not.toMatch(/no token|enroll/)
    const top = await box.cli(['top'])
    expect(top.code).toBe(0)
    expect(top.stdout).toMatch(/local\s+alive/)
    expect(top.stdout).toMatch(/redis\s+\S+\s+redis\/small/)
    const catalog = await box.cli(['catalog'])
    expect(catalog.stdout).toMatch(/redis\s+small/)
  })

  it('logs reads the container output back, with --tail and --grep', async () => {
    const logs = await box.cli(['logs', 'redis', '--tail', '50', '--grep', 'Ready to accept'])
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(/Ready to accept connections/)
    expect(
      logs.stdout
        .trim()
        .split('\n')
        .every((l) => l.includes('Ready to accept')),
    ).toBe(true)
  })

  it('exit codes: 1 for a failure with nothing on stdout, 2 for usage, and one --json envelope', async () => {
    const failed = await box.cli(['bind', 'nosuch', '--format', 'env'])
    expect(failed.code).toBe(1)
    expect(failed.stdout).toBe('')
    expect(failed.stderr).toContain('no instance and no service is called nosuch')
    const usage = await box.cli(['provision'])
    expect(usage.code).toBe(2)
    const usageJson = await box.cli(['provision', 'redis', '--plan', 'huge', '--json'])
    expect(usageJson.code).toBe(2)
    expect(JSON.parse(usageJson.stdout)).toEqual({
      status: 2,
      error: {name: 'UsageError', message: 'service redis has no plan huge'},
    })
    const noTty = await box.cli(['deprovision', 'redis'])
    expect(noTty.code).toBe(2)
    expect(noTty.stderr).toContain('pass --yes to deprovision without asking')
    const badSize = await box.cli(['disk', 'resize', 'redis', 'lots', '--json'])
    expect(badSize.code).toBe(2)
    expect(JSON.parse(badSize.stdout).error).toEqual({
      name: 'UsageError',
      message: 'SIZE lots is not a size: give bytes or a number with K, M, G or T (512M, 2G)',
    })
    const unreachable = await box.cli(['hosts', '--json'], {env: {DBROKER_URL: 'http://127.0.0.1:1'}})
    expect(unreachable.code).toBe(1)
    expect(JSON.parse(unreachable.stdout).error.message).toContain('cannot reach the broker at http://127.0.0.1:1')
    const wrongAdmin = await box.cli(['instances'], {env: {DBROKER_ADMIN_PASSWORD: 'wrong'}})
    expect(wrongAdmin.code).toBe(1)
    expect(wrongAdmin.stderr).toContain('refused the admin credentials')
    expect(wrongAdmin.stderr).not.toContain('wrong')
  })

  it('contexts: add, use, --context, remove; add does not replace one that exists unless --force', async () => {
    expect((await box.cli(['context', 'add', 'other', '--url', 'http://127.0.0.1:1'])).code).toBe(0)
    const taken = await box.cli(['context', 'add', 'other', '--url', 'http://127.0.0.1:2'])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toContain('context other exists (http://127.0.0.1:1)')
    expect(taken.stderr).toContain('--force')
    expect((await box.cli(['context', 'list'])).stdout).toContain('http://127.0.0.1:1')
    expect((await box.cli(['context', 'add', 'other', '--url', 'http://127.0.0.1:2', '--force'])).code).toBe(0)
    expect((await box.cli(['context', 'list'])).stdout).toContain('http://127.0.0.1:2')
    expect((await box.cli(['hosts', '--context', 'other'])).code).toBe(1)
    expect((await box.cli(['context', 'use', 'other'])).code).toBe(0)
    expect((await box.cli(['hosts', '--context', 'local'])).code).toBe(0)
    expect((await box.cli(['context', 'use', 'local'])).code).toBe(0)
    expect((await box.cli(['context', 'remove', 'other'])).code).toBe(0)
    expect((await box.cli(['context', 'use', 'other'])).code).toBe(2)
    expect(statSync(path.join(box.configDir, 'contexts.json')).mode & 0o777).toBe(0o600)
  })

  it('provision --name, unbind, deprovision --yes', async () => {
    const made = JSON.parse((await box.cli(['provision', 'redis', '--name', 'cache2', '--json'])).stdout)
    expect(made).toMatchObject({
      status: 0,
      result: {name: 'cache2', service: 'redis', plan: 'small', state: 'succeeded'},
    })
    const bound = JSON.parse((await box.cli(['bind', 'cache2', '--json'])).stdout)
    expect(bound.result.instance.provisioned).toBe(false)
    const unbound = JSON.parse((await box.cli(['unbind', 'cache2', '--json'])).stdout)
    expect(unbound.result.unbound).toEqual([bound.result.binding.id])
    const gone = await box.cli(['deprovision', 'cache2', '--yes'])
    expect(gone.code).toBe(0)
    expect((await box.cli(['logs', 'cache2'])).code).toBe(1)
  })

  it('provision -n with a taken name is an error naming the existing id, and makes no unnamed instance', async () => {
    const made = JSON.parse((await box.cli(['provision', 'redis', '-n', 'cache-lru', '--json'])).stdout)
    expect(made.status).toBe(0)
    const again = await box.cli(['provision', 'redis', '-n', 'cache-lru'])
    expect(again.code).toBe(1)
    expect(again.stdout).toBe('')
    expect(again.stderr).toContain(`an instance named cache-lru exists already (id ${made.result.id})`)
    const all = JSON.parse((await box.cli(['instances', '--json', '--no-stats'])).stdout).result as Array<{
      name: string | null
    }>
    expect(all.filter((i) => i.name === null)).toEqual([])
    expect(all.filter((i) => i.name === 'cache-lru')).toHaveLength(1)
  })

  it('bind --plan: a plan the instance is not on, or one that does not exist, is an error naming the plans', async () => {
    const small = JSON.parse((await box.cli(['bind', 'postgresql', '--json'])).stdout)
    expect(small.result.instance).toMatchObject({name: 'postgresql', plan: 'small', provisioned: true})
    const medium = await box.cli(['bind', 'postgresql', '--plan', 'medium', '--format', 'env'])
    expect(medium.code).toBe(1)
    expect(medium.stdout).toBe('')
    expect(medium.stderr).toContain(`postgresql (${small.result.instance.id}) is on plan small, not medium`)
    const nosuch = await box.cli(['bind', 'redis', '--plan', 'nosuch', '--json'])
    expect(nosuch.code).toBe(2)
    expect(JSON.parse(nosuch.stdout).error).toEqual({name: 'UsageError', message: 'service redis has no plan nosuch'})
    const bindings = JSON.parse((await box.cli(['unbind', 'postgresql', '--all', '--json'])).stdout).result.unbound
    expect(bindings).toEqual([small.result.binding.id])
  })

  it('unbind of a binding the instance does not have is an error, and the real one stays', async () => {
    const bound = JSON.parse((await box.cli(['bind', 'cache-lru', '--json'])).stdout)
    const wrong = await box.cli(['unbind', 'cache-lru', 'no-such-binding'])
    expect(wrong.code).toBe(1)
    expect(wrong.stdout).toBe('')
    expect(wrong.stderr).toContain('has no binding no-such-binding')
    expect(wrong.stderr).toContain(`its bindings: ${bound.result.binding.id}`)
    const unbound = JSON.parse((await box.cli(['unbind', 'cache-lru', bound.result.binding.id, '--json'])).stdout)
    expect(unbound.result.unbound).toEqual([bound.result.binding.id])
  })

  it('bind NAME while its provision runs waits for it (progress on stderr) and prints working credentials', async () => {
    // PostgreSQL's first start (initdb) outlasts the second CLI's start, so the bind meets the provision running.
    const bound = box.sh(
      'dbroker provision postgresql -n slow-db --async >/dev/null && eval "$(dbroker bind slow-db --format env --prefix SLOW)" && psql "$SLOW_URL" -tAc "select 1"',
    )
    expect(bound.stderr).toContain('slow-db is still provisioning; waiting')
    expect(bound.stdout.trim()).toBe('1')
    expect(bound.code).toBe(0)
    // --force, the old spelling of --yes here, still works.
    expect((await box.cli(['deprovision', 'slow-db', '--force'])).code).toBe(0)
  })

  it('ls --service with a service the catalog lacks names it (exit 1); a known one filters', async () => {
    const unknown = await box.cli(['ls', '--service', 'nosuch'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('the catalog has no service nosuch')
    expect(unknown.stderr).toContain('pick one of: redis, postgresql')
    const redis = JSON.parse((await box.cli(['ls', '--service', 'redis', '--json', '--no-stats'])).stdout)
    expect(redis.status).toBe(0)
    expect(redis.result.length).toBeGreaterThan(0)
    expect(redis.result.every((i: {service: string}) => i.service === 'redis')).toBe(true)
  })

  it('show, bindings and restart: what the admin API has, as commands', async () => {
    const show = await box.cli(['show', 'redis'])
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toMatch(/^name +redis$/m)
    expect(show.stdout).toMatch(/^image +dbroker\/redis:7$/m)
    // The container's effective confinement, as the agent applied it.
    expect(show.stdout).toMatch(
      /^security +unprivileged, caps [A-Z_,]+, read-only root .*no-new-privileges, pids 512, no swap/m,
    )
    expect(show.stdout).toMatch(/^endpoint +127\.0\.0\.1:423\d\d$/m)
    expect(show.stdout).not.toMatch(/redis:\/\/[^ ]*:[^ ]*@/)
    const secret = JSON.parse((await box.cli(['show', 'redis', '--credentials', '--json'])).stdout).result
    expect(secret.bindings.length).toBeGreaterThan(0)
    expect(secret.bindings[0].credentials.uri).toMatch(/^redis:\/\//)

    const bindings = await box.cli(['bindings', 'redis', '--json'])
    const rows = JSON.parse(bindings.stdout).result
    expect(rows.map((b: {id: string}) => b.id).sort()).toEqual(secret.bindings.map((b: {id: string}) => b.id).sort())
    expect(rows[0].credentials).toBeUndefined()
    const all = await box.cli(['bindings'])
    expect(all.stdout.split('\n')[0]).toMatch(/^INSTANCE\s+BINDING\s+STATE\s+APP\s+AGE$/)
    expect(await box.cli(['show', 'nosuch'])).toMatchObject({code: 1})
    const byPrefix = JSON.parse((await box.cli(['show', secret.id.slice(0, 8), '--json'])).stdout).result
    expect(byPrefix.id).toBe(secret.id)
    expect((await box.cli(['logs', secret.id.slice(0, 8), '--tail', '5'])).code).toBe(0)

    const before = secret.container.restartCount as number
    const startedAt = secret.container.startedAt as string
    const restart = await box.cli(['restart', 'redis', '--json'])
    expect(restart.code, restart.stderr).toBe(0)
    await vi.waitFor(
      async () => {
        const after = JSON.parse((await box.cli(['show', 'redis', '--json'])).stdout).result.container
        expect(after.status).toBe('running')
        expect(after.startedAt !== startedAt || after.restartCount > before).toBe(true)
      },
      {timeout: 30_000, interval: 500},
    )
  })
})
