import {createHash, timingSafeEqual} from 'node:crypto'

export interface BasicCredentials {
  username: string
  password: string
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Checks an Authorization header against the expected user and password in
 * constant time: both sides are hashed to equal length before comparing.
 */
export function basicAuthChecker(expected: BasicCredentials): (header: string | undefined) => boolean {
  const want = digest(`${expected.username}:${expected.password}`)
  return (header) => {
    if (!header || !header.startsWith('Basic ')) return false
    const given = digest(Buffer.from(header.slice(6).trim(), 'base64').toString('utf8'))
    return timingSafeEqual(given, want)
  }
}
