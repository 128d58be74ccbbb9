import type {FastifyInstance} from 'fastify'

import type {DiskResizeResult} from '../../core/admin.js'
import {badRequest, OsbError} from '../../core/errors.js'
import type {Logger} from '../../core/log.js'
import type {Store} from '../../store/index.js'
import {type BasicCredentials, REALMS, requireBasicAuth} from '../../core/http-auth.js'
import {DISK_SIZE, parseDiskSizeParameter} from '../disk-parameters.js'
import type {Provisioner} from '../lifecycle/index.js'

/**
 * `POST /admin/v1/instances/:ref/disk {"size": "2G"}`: `dbroker disk resize`. The same update an OSB
 * `{"parameters": {"disk_size": "2G"}}` makes, awaited, so the answer says how it ended.
 */
export function diskRoutes(options: {
  store: Store
  provisioner: Provisioner
  credentials: BasicCredentials
  log: Logger
}) {
  return async (app: FastifyInstance) => {
    await app.register(
      async (scope) => {
        requireBasicAuth(scope, REALMS.admin, options.credentials)
        scope.post<{Params: {ref: string}; Body: {size?: unknown}}>('/instances/:ref/disk', async (request) => {
          const {ref} = request.params
          const size = request.body?.size
          if (size === undefined) throw badRequest('size is required (e.g. {"size": "2G"})')
          const toBytes = parseDiskSizeParameter(size)
          const instance = (await options.store.getInstance(ref)) ?? (await options.store.getInstanceByName(ref))
          if (!instance) throw new OsbError(404, `no instance has the id or name ${ref}`)
          const disk = instance.spec.disk
          if (!disk) throw new OsbError(422, `instance ${ref} has no disk: its plan keeps data in Docker volumes`)
          await options.provisioner.update(
            instance.id,
            {service_id: instance.serviceId, parameters: {[DISK_SIZE]: size}},
            {acceptsIncomplete: false, originatingIdentity: null, requestIdentity: null},
          )
          options.log.info(`disk of instance ${instance.id} resized from ${disk.sizeBytes} to ${toBytes} bytes`)
          return {
            id: instance.id,
            name: instance.name ?? null,
            path: disk.path,
            fromBytes: disk.sizeBytes,
            toBytes,
          } satisfies DiskResizeResult
        })
      },
      {prefix: '/admin/v1'},
    )
  }
}
