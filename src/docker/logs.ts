import {Transform, type TransformCallback} from 'node:stream'

import type {LogOptions} from '../core/admin.js'
import {EngineError, LogsUnavailableError} from '../core/errors.js'
import {type Engine, inspectContainer} from './engine.js'

/** The last few lines of a container's output, for an error message (small, so read at once). */
export async function containerLogsTail(engine: Engine, id: string, lines: number): Promise<string> {
  const buffer = (await engine
    .getContainer(id)
    .logs({stdout: true, stderr: true, tail: lines, follow: false})) as unknown as Buffer
  return demuxBuffer(buffer)
}

/** Strips Docker's 8-byte stream headers from a non-TTY log buffer. */
export function demuxBuffer(buffer: Buffer): string {
  const parts: Buffer[] = []
  let offset = 0
  while (offset + 8 <= buffer.length && (buffer[offset] === 1 || buffer[offset] === 2) && buffer[offset + 1] === 0) {
    const size = buffer.readUInt32BE(offset + 4)
    parts.push(buffer.subarray(offset + 8, offset + 8 + size))
    offset += 8 + size
  }
  return offset === 0 ? buffer.toString('utf8') : Buffer.concat(parts).toString('utf8')
}

/**
 * Docker's multiplexed log stream (8-byte headers: stream, 0, 0, 0, size) to
 * the payload, across chunk boundaries. A Transform, so a slow reader slows
 * the engine instead of the broker buffering the whole log.
 */
export class LogDemux extends Transform {
  private header = Buffer.alloc(0)
  /** Payload bytes still to come of the current frame: forwarded as they arrive, never collected. */
  private remaining = 0
  private first = true
  private raw = false

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.first && chunk.length > 0) {
      this.first = false
      // A TTY container's stream has no headers.
      this.raw = !(chunk[0] <= 2 && (chunk.length < 2 || chunk[1] === 0))
    }
    if (this.raw) return done(null, chunk)
    let at = 0
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - at)
        this.push(chunk.subarray(at, at + take))
        at += take
        this.remaining -= take
        continue
      }
      const part = chunk.subarray(at, at + 8 - this.header.length)
      this.header = Buffer.concat([this.header, part])
      at += part.length
      if (this.header.length === 8) {
        this.remaining = this.header.readUInt32BE(4)
        this.header = Buffer.alloc(0)
      }
    }
    done()
  }
}

/** Opens the engine's logs endpoint as a stream, also without follow (dockerode would buffer the whole answer). */
function openLogStream(engine: Engine, id: string, options: Record<string, unknown>): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    engine.modem.dial(
      {
        path: `/containers/${encodeURIComponent(id)}/logs?`,
        method: 'GET',
        options,
        isStream: true,
        statusCodes: {200: true, 404: 'no such container', 500: 'server error', 501: 'not implemented'},
      },
      (error, stream) => (error ? reject(error) : resolve(stream as NodeJS.ReadableStream)),
    )
  })
}

/**
 * A container's output from the engine's logs API as text chunks, streamed as
 * it is read: json-file, local and journald directly, syslog, gelf, fluentd and
 * the others from Engine 20.10's read-back cache (dual logging). Where neither
 * works (the cache turned off, the none driver) it fails with LogsUnavailableError.
 */
export async function containerLogs(engine: Engine, id: string, options: LogOptions): Promise<AsyncIterable<string>> {
  const query = {
    stdout: true,
    stderr: true,
    timestamps: options.timestamps ?? false,
    since: options.since ?? 0,
    follow: options.follow ?? false,
    ...(options.tail === undefined ? {} : {tail: options.tail}),
  }
  const unreadable = async (error: {
    statusCode?: number
    message: string
    json?: {message?: string}
  }): Promise<never> => {
    const message = error.json?.message ?? error.message
    if (/does not support reading|logging driver/i.test(message) || error.statusCode === 501) {
      const config = (await inspectContainer(engine, id))?.HostConfig?.LogConfig
      const driver = config?.Type ?? 'its'
      const sentTo = config?.Config?.['syslog-address'] ?? config?.Config?.['gelf-address']
      // Engine 20.10 reads syslog, gelf, fluentd... back from its own cache unless the container or daemon turned it off.
      const cache = ['json-file', 'local', 'journald'].includes(driver)
        ? ''
        : config?.Config?.['cache-disabled'] === 'true'
          ? ' and its read-back cache (dual logging) is off for this container (cache-disabled)'
          : ' and the engine keeps no read-back cache for it (dual logging is off: "cache-disabled" in its daemon.json log-opts, or an engine before 20.10)'
      throw new LogsUnavailableError(
        `the engine cannot read back logs written with the ${driver} logging driver${cache}`,
        `read them where the ${driver} driver sends them${sentTo ? ` (${sentTo})` : ''}, or log with json-file or local, or leave dual logging on`,
      )
    }
    throw new EngineError(`cannot read the logs of container ${id.slice(0, 12)}: ${message}`)
  }
  const source = (await openLogStream(engine, id, query).catch(unreadable)) as NodeJS.ReadableStream & {destroy(): void}
  const demux = new LogDemux()
  demux.setEncoding('utf8')
  const end = () => {
    source.destroy()
    demux.end()
  }
  source.on('error', end)
  source.pipe(demux)
  options.signal?.addEventListener('abort', end, {once: true})
  // A client that hung up while the stream was being opened never fires 'abort' again.
  if (options.signal?.aborted) end()
  return demux as AsyncIterable<string>
}
