import {errorMessage} from '../../core/errors.js'
import type {Operation} from '../../core/types.js'
import type {LifecycleContext} from './context.js'

/** How often a running operation's description is written at most: a pull reports many lines a second. */
export const PROGRESS_EVERY_MS = 1000

/**
 * What an agent's apply says while it gets an image, made into the
 * operation's description (what last_operation answers while it runs):
 * `provision in progress: pulling image X: <layer> Downloading [==>  ] 12MB/40MB`.
 * A build says only that it builds: its output is the Dockerfile's, which may
 * print anything (a build argument's value, say). Written at most once per
 * PROGRESS_EVERY_MS, the newest line winning; nothing once the operation ended.
 */
export function operationProgress(ctx: LifecycleContext, op: Operation): (line: string) => void {
  let image: {name: string; pulling: boolean} | undefined
  let pending: string | undefined
  let writtenAt = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const write = () => {
    timer = undefined
    if (pending === undefined) return
    const description = `${op.kind} in progress: ${pending}`
    pending = undefined
    writtenAt = ctx.clock.now()
    void ctx.store
      .describeOperation(op.id, description, ctx.brokerId, writtenAt)
      .catch((error) => ctx.log.debug(`the progress of ${op.kind} ${op.id} was not written: ${errorMessage(error)}`))
  }
  return (line) => {
    const pull = /^pulling (\S+)$/.exec(line)
    const build = /^building (\S+) from /.exec(line)
    if (pull) image = {name: pull[1], pulling: true}
    else if (build) image = {name: build[1], pulling: false}
    if (!image) return
    if (pull || build) pending = `${image.pulling ? 'pulling' : 'building'} image ${image.name}`
    else if (image.pulling) pending = `pulling image ${image.name}: ${line.replace(/\s+/g, ' ').slice(0, 200)}`
    else return
    if (timer) return
    const wait = writtenAt + PROGRESS_EVERY_MS - ctx.clock.now()
    if (wait <= 0) write()
    else timer = setTimeout(write, wait)
  }
}
