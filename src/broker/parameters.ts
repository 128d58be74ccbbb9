import {Ajv, type ValidateFunction} from 'ajv'

import {badRequest} from '../core/errors.js'

const ajv = new Ajv({allErrors: true, strict: false, validateSchema: false})
const compiled = new WeakMap<object, ValidateFunction>()

/** Validates request parameters against a plan's JSON schema; a mismatch is a 400 naming the field. */
export function validateParameters(
  schema: Record<string, unknown> | undefined,
  parameters: Record<string, unknown>,
): void {
  if (!schema) return
  let validate = compiled.get(schema)
  if (!validate) {
    const {$schema: _ignored, ...body} = schema
    validate = ajv.compile(body)
    compiled.set(schema, validate)
  }
  if (!validate(parameters)) {
    const problems = (validate.errors ?? []).map(
      (e) =>
        `${e.instancePath || 'parameters'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}${e.params && 'allowedValues' in e.params ? `: ${(e.params.allowedValues as unknown[]).join(', ')}` : ''}`,
    )
    throw badRequest(`invalid parameters: ${problems.join('; ')}`)
  }
}
