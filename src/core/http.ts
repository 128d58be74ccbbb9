import http from 'node:http'
import https from 'node:https'
import {TLSSocket} from 'node:tls'

/** How to reach a peer over HTTP(S): its bearer token and, for a private CA, the CA's PEM. */
export interface PeerOptions {
  token: string
  ca?: string | Buffer
  /** Longest silence on the socket once connected. */
  timeoutMs?: number
  /** Longest wait for the TCP (and TLS) handshake. */
  connectTimeoutMs?: number
  /** Longest wait from the request until the response's headers. */
  responseTimeoutMs?: number
  /** Longest the whole exchange may take. */
  deadlineMs?: number
  /** A new connection per request, so the connect timeout tells a peer that stopped answering at once. */
  fresh?: boolean
}

/** Arms the connect, response-start and total deadlines on one request; each destroys it with a message that says which ran out. */
function armDeadlines(request: http.ClientRequest, origin: string, options: PeerOptions): void {
  const timers: NodeJS.Timeout[] = []
  const after = (ms: number | undefined, what: string) => {
    if (ms === undefined) return undefined
    const timer = setTimeout(() => request.destroy(new Error(`${what} to ${origin} within ${ms} ms`)), ms)
    timers.push(timer)
    return timer
  }
  const total = after(options.deadlineMs, 'no complete answer')
  const start = after(options.responseTimeoutMs, 'no response')
  request.on('socket', (socket) => {
    const connecting = (socket as {connecting?: boolean}).connecting
    if (!connecting || options.connectTimeoutMs === undefined) return
    const connect = after(options.connectTimeoutMs, 'could not connect')
    // TLS counts as part of connecting: a peer that takes the SYN but never finishes the handshake is as unreachable.
    socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => clearTimeout(connect))
  })
  request.on('response', (response) => {
    clearTimeout(start)
    response.once('end', () => clearTimeout(total))
  })
  request.once('close', () => timers.forEach((t) => clearTimeout(t)))
}

export interface PeerResponse {
  status: number
  body: unknown
}

/** A peer answered with an error status; `body` is what it said. */
export class PeerError extends Error {
  override readonly name = 'PeerError'
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message)
  }
}

/**
 * One JSON request between broker and agent. node:https rather than fetch, so
 * a private CA can be trusted per call without touching the process's
 * defaults. Keep-alive agents are shared per CA.
 */
export function requestJson(
  url: string,
  options: PeerOptions & {method?: string; body?: unknown; signal?: AbortSignal},
): Promise<PeerResponse> {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body))
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(
      target,
      {
        method: options.method ?? 'GET',
        agent: agentFor(secure, options.ca, options.fresh),
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          ...(payload ? {'content-type': 'application/json', 'content-length': payload.length} : {}),
        },
        timeout: options.timeoutMs ?? 30_000,
        signal: options.signal,
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', reject)
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: unknown = text
          try {
            body = text ? JSON.parse(text) : undefined
          } catch {
            // not JSON: keep the text for the error message
          }
          resolve({status: response.statusCode ?? 0, body})
        })
      },
    )
    request.on('timeout', () =>
      request.destroy(new Error(`no answer from ${target.origin} within ${options.timeoutMs ?? 30_000} ms`)),
    )
    armDeadlines(request, target.origin, options)
    request.on('error', reject)
    request.end(payload)
  })
}

/** Streams a text response chunk by chunk (logs); an error status rejects before the first chunk. */
export function requestStream(
  url: string,
  options: PeerOptions & {signal?: AbortSignal},
): Promise<AsyncIterable<string>> {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(
      target,
      {
        agent: agentFor(secure, options.ca, options.fresh),
        headers: {authorization: `Bearer ${options.token}`},
        signal: options.signal,
        ...(options.timeoutMs ? {timeout: options.timeoutMs} : {}),
      },
      (response) => {
        if ((response.statusCode ?? 0) >= 400) {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            reject(new PeerError(response.statusCode ?? 0, messageOf(text) ?? text, text))
          })
          return
        }
        response.setEncoding('utf8')
        resolve(response as AsyncIterable<string>)
      },
    )
    // An idle stream (no line for timeoutMs) ends with an error rather than hanging on a peer that went away.
    request.on('timeout', () => request.destroy(new Error(`${target.origin} sent nothing for ${options.timeoutMs} ms`)))
    armDeadlines(request, target.origin, options)
    request.on('error', reject)
    request.end()
  })
}

function messageOf(text: string): string | undefined {
  try {
    // `message`: agents from before the shared error body.
    const body = JSON.parse(text) as {description?: string; message?: string}
    return body.description ?? body.message
  } catch {
    return undefined
  }
}

const agents = new Map<string, http.Agent>()

function agentFor(secure: boolean, ca?: string | Buffer, fresh = false): http.Agent {
  const key = `${secure}:${fresh}:${ca ? ca.toString() : ''}`
  let agent = agents.get(key)
  if (!agent) {
    const keepAlive = !fresh
    agent = secure
      ? new https.Agent({keepAlive, maxSockets: 32, ...(ca ? {ca} : {})})
      : new http.Agent({keepAlive, maxSockets: 32})
    agents.set(key, agent)
  }
  return agent
}
