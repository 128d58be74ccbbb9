import {z} from 'zod'

import type {RestartPolicy} from '../core/types.js'

/** A restart policy as `docker run --restart` takes it: the policy and, for on-failure, how often the engine retries. */
export interface Restart {
  policy: RestartPolicy
  retries?: number
}

/** `always`, `unless-stopped`, `on-failure[:N]` or `no`; a message saying what is wrong otherwise. */
export function parseRestart(value: string): Restart | {problem: string} {
  const match = /^(no|always|unless-stopped|on-failure)(?::(.*))?$/.exec(value)
  if (!match) return {problem: `"${value}" is not a restart policy: use always, unless-stopped, on-failure[:N] or no`}
  const policy = match[1] as RestartPolicy
  const count = match[2]
  if (count === undefined) return {policy}
  if (policy !== 'on-failure') return {problem: `"${value}": only on-failure takes a retry count (on-failure:N)`}
  if (!/^[1-9][0-9]{0,8}$/.test(count))
    return {problem: `"${value}": the retry count N of on-failure:N must be a positive integer (e.g. on-failure:3)`}
  return {policy, retries: Number(count)}
}

/** A restart policy that stays text (a plan's: the stored catalog is parsed again from what it parsed). */
export const restartText = z.string().superRefine((value, ctx) => {
  const parsed = parseRestart(value)
  if ('problem' in parsed) ctx.addIssue({code: 'custom', message: parsed.problem})
})

/** A restart policy read into its parts (a manifest container's). */
export const restartParts = z.string().transform((value, ctx): Restart => {
  const parsed = parseRestart(value)
  if (!('problem' in parsed)) return parsed
  ctx.addIssue({code: 'custom', message: parsed.problem})
  return {policy: 'no'}
})

/** The spec fields of a valid policy text. */
export function restartSpec(value: string): {restart: RestartPolicy; restartRetries?: number} {
  const parsed = parseRestart(value)
  if ('problem' in parsed) throw new Error(parsed.problem)
  return {restart: parsed.policy, ...(parsed.retries !== undefined ? {restartRetries: parsed.retries} : {})}
}
