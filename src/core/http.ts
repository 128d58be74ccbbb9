import {createHash, timingSafeEqual} from 'node:crypto'
import http from 'node:http'
import https from 'node:https'

/** How to reach a peer over HTTP(S): its bearer token and, for a private CA, the CA's PEM. */
export interface PeerOptions {
  token: string
  ca?: string | Buffer
  timeoutMs?: number
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
        agent: agentFor(secure, options.ca),
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
    request.on('timeout', () => request.destroy(new Error(`no answer from ${target.origin} within ${options.timeoutMs ?? 30_000} ms`)))
    request.on('error', reject)
    request.end(payload)
  })
}

/** Streams a text response chunk by chunk (logs); an error status rejects before the first chunk. */
export function requestStream(url: string, options: PeerOptions & {signal?: AbortSignal}): Promise<AsyncIterable<string>> {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(
      target,
      {agent: agentFor(secure, options.ca), headers: {authorization: `Bearer ${options.token}`}, signal: options.signal},
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
    request.on('error', reject)
    request.end()
  })
}

function messageOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as {message?: string}).message
  } catch {
    return undefined
  }
}

const agents = new Map<string, http.Agent>()

function agentFor(secure: boolean, ca?: string | Buffer): http.Agent {
  const key = `${secure}:${ca ? ca.toString() : ''}`
  let agent = agents.get(key)
  if (!agent) {
    agent = secure ? new https.Agent({keepAlive: true, maxSockets: 32, ...(ca ? {ca} : {})}) : new http.Agent({keepAlive: true, maxSockets: 32})
    agents.set(key, agent)
  }
  return agent
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Checks `Authorization: Bearer TOKEN` in constant time: both sides are hashed to one length first. */
export function bearerChecker(token: string): (header: string | undefined) => boolean {
  const want = digest(token)
  return (header) => !!header && header.startsWith('Bearer ') && timingSafeEqual(digest(header.slice(7).trim()), want)
}
