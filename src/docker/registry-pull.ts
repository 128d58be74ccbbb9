import {type RegistryAuth, RegistryAuthError, registryOfImage} from '../core/registries.js'

/** The login to pull an image with, looked up only when the image must be pulled; undefined: pull without one. */
export type RegistryLoginLookup = (image: string) => Promise<RegistryAuth | undefined>

const REFUSED = /unauthorized|authentication required|no basic auth credentials/i

/** A pull the registry refused for want of (valid) credentials becomes a RegistryAuthError naming registry and user. */
export function throwIfRefused(error: unknown, image: string, auth: RegistryAuth | undefined): void {
  const {message, json} = error as {message?: string; json?: {message?: string}}
  let said = (json?.message ?? message ?? '').trim().split('\n')[0]
  if (!REFUSED.test(said)) return
  // The engine's message never carries the password; should one ever, it goes no further.
  if (auth) said = said.split(auth.password).join('********')
  const registry = registryOfImage(image)
  const login = `dbroker registry login ${registry} --username USER --password-stdin`
  throw new RegistryAuthError(
    auth
      ? `registry ${registry} refused the login of user ${auth.username} to pull ${image} (${said}): check the password and log in again with \`${login}\``
      : `registry ${registry} wants a login to pull ${image} (${said}): log in with \`${login}\``,
  )
}
