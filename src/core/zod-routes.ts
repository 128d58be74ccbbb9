import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifySchemaValidationError,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify'
import {serializerCompiler, validatorCompiler, type ZodTypeProvider} from 'fastify-type-provider-zod'

import {describeIssues} from './protocol.js'

/** A validation failure as one line naming each field, the way every dbroker API words it. */
function validationMessage(errors: FastifySchemaValidationError[]): string {
  return describeIssues(
    errors.map((e) => ({
      path: e.instancePath.split('/').filter((segment) => segment !== ''),
      message: e.message ?? '',
    })),
  )
}

/** Whether the failure is the body itself not being an object (absent, null, an array, a string). */
function bodyIsNoObject(errors: FastifySchemaValidationError[], dataVar: string): boolean {
  return dataVar === 'body' && errors.some((e) => e.instancePath === '/' && e.keyword === 'invalid_type')
}

/**
 * Route schemas from zod on this scope: requests are validated, answers
 * serialized by their schema, handlers typed by them. A field that fails is
 * `invalid(message naming each field)`: a 400 `{description}` by default.
 */
export function withZod(
  app: FastifyInstance,
  // A plain error: fastify sets its code (FST_ERR_VALIDATION), which must not become an OSB error code.
  invalid: (message: string) => Error = (message) => Object.assign(new Error(message), {statusCode: 400}),
): ZodApp {
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setSchemaErrorFormatter((errors, dataVar) =>
    invalid(bodyIsNoObject(errors, dataVar) ? 'the request body must be a JSON object' : validationMessage(errors)),
  )
  return app.withTypeProvider<ZodTypeProvider>()
}

/** A fastify scope whose routes take zod schemas. */
export type ZodApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>
