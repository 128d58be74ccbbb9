import {DbrokerError, errorMessage} from '../core/errors.js'
import {requestJson} from '../core/http.js'
import type {Logger} from '../core/log.js'
import {AGENTS_PREFIX, AGENTS_ROUTES, describeIssues, registryAuthAnswer} from '../core/protocol.js'
import {registryOfImage} from '../core/registries.js'
import type {RegistryLoginLookup} from '../docker/registry-pull.js'

export interface RemoteRegistryLoginOptions {
  hostId: string
  brokers: string[]
  token: string
  ca?: string | Buffer
  log: Logger
}

/**
 * A remote agent's way to a registry login: asked of the brokers (in turn)
 * right before a pull, kept in memory for that pull only. No broker
 * answering means a pull without a login, and the registry says if it wanted one.
 */
export function remoteRegistryLogin(options: RemoteRegistryLoginOptions): RegistryLoginLookup {
  return async (image) => {
    const failures: string[] = []
    for (const broker of options.brokers) {
      const url = `${broker.replace(/\/+$/, '')}${AGENTS_PREFIX}${AGENTS_ROUTES.registryAuth}`
      try {
        const response = await requestJson(url, {
          token: options.token,
          ca: options.ca,
          method: 'POST',
          body: {id: options.hostId, image},
          timeoutMs: 10_000,
          deadlineMs: 10_000,
        })
        if (response.status === 403)
          throw new DbrokerError(
            `the broker gives no registry login for ${image}: ${(response.body as {description?: string})?.description ?? 'forbidden'}`,
          )
        if (response.status >= 300) throw new Error(`the broker answered ${response.status}`)
        const answer = registryAuthAnswer.safeParse(response.body)
        if (!answer.success) throw new Error(`unexpected answer: ${describeIssues(answer.error.issues)}`)
        return answer.data.auth ?? undefined
      } catch (error) {
        if (error instanceof DbrokerError) throw error
        failures.push(`${broker}: ${errorMessage(error)}`)
      }
    }
    options.log.warn(
      `no broker said whether registry ${registryOfImage(image)} needs a login (${failures.join('; ')}); pulling ${image} without one`,
    )
    return undefined
  }
}
