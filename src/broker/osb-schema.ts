/** The OSB request and response bodies, each defined once as a zod schema; their types come from it. */
import {z} from 'zod'

import {documentCheck, idField, LIMITS} from './limits.js'

const id = idField
const object = z.record(z.string(), z.unknown())
// What is stored is capped and printable (limits.ts); previous_values is only read.
const parameters = object.superRefine(documentCheck('parameters', LIMITS.parameters))
const context = object.superRefine(documentCheck('context', LIMITS.context))
const bindResource = object.superRefine(documentCheck('bind_resource', LIMITS.bindResource))
const maintenanceInfo = z.union([z.object({version: idField('maintenance_info.version')}), z.object({}).strict()])

export const provisionBody = z.object({
  service_id: id('service_id'),
  plan_id: id('plan_id'),
  organization_guid: id('organization_guid'),
  space_guid: id('space_guid'),
  context: context.optional(),
  parameters: parameters.optional(),
  maintenance_info: maintenanceInfo.optional(),
})

export const updateBody = z.object({
  service_id: id('service_id'),
  plan_id: id('plan_id').optional(),
  context: context.optional(),
  parameters: parameters.optional(),
  maintenance_info: maintenanceInfo.optional(),
  previous_values: object.optional(),
})

export const bindBody = z.object({
  service_id: id('service_id'),
  plan_id: id('plan_id'),
  app_guid: idField('app_guid', {allowEmpty: true}).optional(),
  bind_resource: bindResource.optional(),
  context: context.optional(),
  parameters: parameters.optional(),
  predecessor_binding_id: idField('predecessor_binding_id', {allowEmpty: true}).optional(),
})

/** DELETE's query: both ids are required by the spec, checked by the lifecycle so the error names them. */
export const deleteQuery = z.object({service_id: z.string().optional(), plan_id: z.string().optional()})

export const instanceParams = z.object({instance_id: z.string()})
export const bindingParams = z.object({instance_id: z.string(), binding_id: z.string()})

/** Every query parameter an OSB route reads. */
export const osbQuery = deleteQuery.extend({
  accepts_incomplete: z.string().optional(),
  operation: z.string().optional(),
})

export type ProvisionBody = z.infer<typeof provisionBody>
export type UpdateBody = z.infer<typeof updateBody>
export type BindBody = z.infer<typeof bindBody>
export type DeleteQuery = z.infer<typeof deleteQuery>
export type OsbQuery = z.infer<typeof osbQuery>

const endpoint = z.strictObject({
  host: z.string(),
  ports: z.array(z.string()),
  protocol: z.enum(['tcp', 'udp', 'all']).optional(),
})

/** PUT .../service_bindings/:id: credentials and where they reach, never the request's parameters. */
export const bindResponse = z.strictObject({
  credentials: object,
  endpoints: z.array(endpoint).optional(),
  syslog_drain_url: z.string().optional(),
  metadata: object.optional(),
})

/** GET .../service_bindings/:id: what PUT answered, plus the parameters the binding was made with. */
export const fetchBindingResponse = bindResponse.extend({parameters: object.optional()})

export const fetchInstanceResponse = z.strictObject({
  service_id: z.string(),
  plan_id: z.string(),
  dashboard_url: z.string().optional(),
  parameters: object.optional(),
  maintenance_info: z.object({version: z.string()}).optional(),
  metadata: z.strictObject({labels: z.record(z.string(), z.string()), attributes: object}).optional(),
})

export const provisionResponse = z.strictObject({
  dashboard_url: z.string().optional(),
  operation: z.string().optional(),
})

export const lastOperationResponse = z.strictObject({
  state: z.enum(['in progress', 'succeeded', 'failed']),
  description: z.string().optional(),
  instance_usable: z.boolean().optional(),
  update_repeatable: z.boolean().optional(),
})

export const operationResponse = z.strictObject({operation: z.string()})
export const emptyResponse = z.strictObject({})

export type BindResponse = z.infer<typeof bindResponse>
export type FetchBindingResponse = z.infer<typeof fetchBindingResponse>
export type FetchInstanceResponse = z.infer<typeof fetchInstanceResponse>
export type ProvisionResponse = z.infer<typeof provisionResponse>
export type LastOperationResponse = z.infer<typeof lastOperationResponse>
export type OperationResponse = z.infer<typeof operationResponse>
export type EmptyResponse = z.infer<typeof emptyResponse>

export type ResponseBody =
  | BindResponse
  | FetchBindingResponse
  | FetchInstanceResponse
  | ProvisionResponse
  | LastOperationResponse
  | OperationResponse
  | EmptyResponse

/** What a lifecycle step answers: a status and a body before the version dialect trims it. */
export interface Reply<Body extends ResponseBody = ResponseBody> {
  status: number
  /** One of the bodies above, and a plain JSON object either way. */
  body: Body & Record<string, unknown>
}

export interface RequestMeta {
  acceptsIncomplete: boolean
  originatingIdentity: string | null
  requestIdentity: string | null
}
