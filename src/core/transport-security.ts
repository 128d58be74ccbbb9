import {isIP} from 'node:net'

/** Whether traffic to this host name stays on the machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/**
 * Why a URL would carry secrets in clear text over a network, or undefined
 * when it doesn't: https, or http that stays on the loopback interface.
 */
export function cleartextProblem(url: string): string | undefined {
  const parsed = new URL(url)
  if (parsed.protocol !== 'http:') return undefined
  if (isLoopback(parsed.hostname)) return undefined
  return `${parsed.origin} is plain http: its tokens and passwords would cross the network unencrypted`
}
