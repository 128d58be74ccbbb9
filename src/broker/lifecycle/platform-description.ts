import type {OperationKind} from '../../core/types.js'
import {isUnreachableFailure} from '../reachability.js'

/**
 * Text only a Docker engine writes: dockerode's `(HTTP code 500) server error - …`, the CLI's "Error response
 * from daemon", the agent's `cannot create|start container NAME: <engine text>`, a 64-hex container or image id,
 * the engine's socket. The platform has no use for them, and they name the host's insides.
 */
const ENGINE_TEXT =
  /\(HTTP code \d{3}\)|Error response from daemon|\bcannot (?:create|start) container \S+: |\b[0-9a-f]{64}\b|docker\.sock/

/** What the host could not do, in the platform's terms, by what the failure text says and else by the operation. */
function whatFailed(kind: OperationKind, description: string): string {
  const image = /\bimage (\S+) is not on the engine and could not be made\b/.exec(description)?.[1]
  if (image) return `image ${image} is not on the host and could neither be built nor pulled`
  // The plan's logging driver is the operator's choice the host can't honour: what the engine said of it is the reason.
  const logging = /failed to initialize logging driver: ([^;\n]+)/.exec(description)?.[1]?.trim()
  if (logging && !/[0-9a-f]{64}|docker\.sock/.test(logging))
    return `the host could not start the container with the plan's logging driver (${logging})`
  if (/\bcannot create container /.test(description)) return 'the host could not create the container'
  if (kind === 'deprovision') return 'the host could not remove the container'
  if (kind === 'bind' || kind === 'unbind') return "the host could not run the binding's commands in the container"
  return 'the host could not start the container'
}

/**
 * An operation's failure as the platform reads it (OSB `description`): the broker's own words as they are, but one
 * that carries the engine's internals becomes a plain sentence naming the operation, whose full text is in the
 * broker's log only.
 */
export function platformDescription(kind: OperationKind, operationId: string, description: string): string {
  // An unreachable host is the broker's own finding, and its words make a sync reply a 503: kept whole.
  if (!ENGINE_TEXT.test(description) || isUnreachableFailure(description)) return description
  // The broker's own sentence that quotes the engine in parentheses (a registry that refused a login, and why):
  // the sentence stays, the quote goes.
  const unquoted = description.replace(/ ?\(([^()]|\([^()]*\))*\)/g, (group) =>
    ENGINE_TEXT.test(group) && !/^ ?\(HTTP code \d{3}\)$/.test(group) ? '' : group,
  )
  if (!ENGINE_TEXT.test(unquoted)) return `${unquoted}; see the broker log, operation ${operationId}`
  const unchanged = /; the instance runs as before$/.test(description) ? '; the instance runs as before' : ''
  return `${kind} failed: ${whatFailed(kind, description)}${unchanged}; see the broker log, operation ${operationId}`
}

/** Whether a text shows the engine's internals (a request's error, outside any operation). */
export const showsEngineInternals = (text: string) => ENGINE_TEXT.test(text)
