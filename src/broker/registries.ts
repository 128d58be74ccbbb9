import type {FastifyInstance} from 'fastify'

import type {Catalog} from '../catalog/index.js'

import type {HostRegistryView} from '../core/admin.js'
import {hostTokenHash} from '../core/host-identity.js'
import {requireHostToken} from '../core/http-auth.js'
import type {Logger} from '../core/log.js'
import {AGENTS_PREFIX, AGENTS_ROUTES, registryAuthBody} from '../core/protocol.js'
import {
  DOCKER_HUB,
  type RegistryAuth,
  registryDifferences,
  registryOfImage,
  type RegistrySettings,
} from '../core/registries.js'
import type {HostFacts} from '../core/types.js'
import {withZod} from '../core/zod-routes.js'
import {kindOf} from './lifecycle/plan-kinds.js'
import {hostIdentities, type Store} from '../store/index.js'

/** The stored login for an image's registry, as Docker's auth config; undefined when none is stored. */
export async function registryLoginFor(store: Store, image: string): Promise<RegistryAuth | undefined> {
  const registry = registryOfImage(image)
  const login = await store.registries.loginFor(registry)
  if (!login) return undefined
  return {...login, serveraddress: registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry}
}

/**
 * Whether an instance placed on the host (in any state: a provision pulls before it is ready) or a container
 * deployed there runs `image`. A static or adopted instance runs no container of dbroker's: its record's image
 * ("static", "existing") would read as a Docker Hub image.
 */
async function hostUsesImage(store: Store, catalog: Catalog, hostId: string, image: string): Promise<boolean> {
  const [instances, deployed] = await Promise.all([
    store.listInstances({hostId}),
    store.deployments.containers({hostId}),
  ])
  const running = instances.filter((i) => ['dedicated', 'shared'].includes(kindOf(catalog, i).type))
  return [...running, ...deployed].some((i) => i.spec.image === image)
}

/** What `hosts` shows of a host's registry settings: desired, in force, and why not when they differ. */
export function hostRegistryView(stored: RegistrySettings | null, facts: HostFacts | null): HostRegistryView {
  const desired = stored && {mirrors: stored.mirrors, insecure: stored.insecure}
  const actual = facts && {mirrors: facts.registryMirrors, insecure: facts.insecureRegistries}
  if (!desired) return {desired: null, actual, state: 'not set'}
  if (!facts) return {desired, actual, state: 'unknown', why: 'the host has not reported its engine yet'}
  const differences = registryDifferences(desired, facts)
  if (differences.length === 0) return {desired, actual, state: 'in force'}
  const control = facts.engineControl
  const why =
    control?.registryProblem ??
    (control?.managed
      ? `the agent is applying it (${differences.join(', ')})`
      : `the agent predates registry settings (${differences.join(', ')})`)
  return {desired, actual, state: 'not applied', why}
}

/**
 * `POST /agents/v1/registry-auth`: an agent about to pull an image gets the
 * login of its registry — only for an image one of its own desired
 * containers names, so a host's token opens no other registry's login.
 */
export function registryAuthRoutes(options: {store: Store; catalog: Catalog; log: Logger}) {
  const {store, catalog, log} = options
  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        const hostOf = requireHostToken(scope, (token) => hostIdentities.hostOfToken(store, hostTokenHash(token)))
        withZod(scope).post(AGENTS_ROUTES.registryAuth, {schema: {body: registryAuthBody}}, async (request, reply) => {
          const hostId = hostOf(request)
          const {id, image} = request.body
          if (id !== hostId)
            return reply
              .code(403)
              .send({error: 'Forbidden', description: `this token is host ${hostId}'s; it cannot speak for host ${id}`})
          if (!(await hostUsesImage(store, catalog, hostId, image))) {
            log.warn(
              `host ${hostId} asked for the registry login of ${image}, which none of its containers uses: refused`,
            )
            return reply.code(403).send({
              error: 'Forbidden',
              description: `no container of host ${hostId} uses ${image}: its registry's login is not given`,
            })
          }
          return {auth: (await registryLoginFor(store, image)) ?? null}
        })
      },
      {prefix: AGENTS_PREFIX},
    )
  }
}
