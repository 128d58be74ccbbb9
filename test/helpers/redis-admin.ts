import {execFileSync} from 'node:child_process'

import {labelled} from './docker.js'

/** redis-cli as the image's own admin user, inside the instance's container (`docker exec ... /dbroker/admin-cli`). */
export async function redisAdmin(instanceId: string, ...args: string[]): Promise<string> {
  const container = (await labelled(instanceId)).containers.find((c) => c.State === 'running')
  if (!container) throw new Error(`instance ${instanceId} has no running container`)
  return execFileSync('docker', ['exec', container.Id, '/dbroker/admin-cli', ...args], {
    encoding: 'utf8',
    stdio: 'pipe',
    timeout: 10_000,
  }).trim()
}

/** The ACL users redis knows in the instance, sorted. */
export async function redisAclUsers(instanceId: string): Promise<string[]> {
  return (await redisAdmin(instanceId, 'ACL', 'USERS')).split('\n').sort()
}
