import type {LifecycleContext} from './context.js'

/** Shorter values are left: blanking them would blank ordinary words of a log line. */
const MIN_SECRET_LENGTH = 6
const SECRET_NAME = /PASS|PWD|SECRET|TOKEN|KEY|AUTH|CRED/i

/**
 * Blanks the instance's own password and its bindings' passwords in a text
 * that came from its container (an operation's failure with the last log
 * lines): a service may log what it was started with or what a hook ran.
 */
export async function withoutInstanceSecrets(ctx: LifecycleContext, instanceId: string, text: string): Promise<string> {
  const [instance, bindings] = await Promise.all([
    ctx.store.getInstance(instanceId),
    ctx.store.listBindings(instanceId),
  ])
  const secrets = [
    instance?.credentials.password,
    ...Object.entries(instance?.spec.env ?? {}).flatMap(([key, value]) => (SECRET_NAME.test(key) ? [value] : [])),
    ...bindings.flatMap((b) => [b.credentials.password, b.credentials.uri]),
  ].filter((s): s is string => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)
  // Longest first, so a URI holding a password goes whole.
  return secrets.sort((a, b) => b.length - a.length).reduce((out, secret) => out.split(secret).join('********'), text)
}
