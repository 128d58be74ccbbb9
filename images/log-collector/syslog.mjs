// Syslog messages as senders write them: RFC 5424, RFC 3164 (and Docker's own variant), framed on TCP by
// octet counting (RFC 6587) or by newlines.

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec'
const RFC3164_TIME = new RegExp(`^(?:${MONTHS}) [ \\d]\\d \\d\\d:\\d\\d:\\d\\d `)
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) /
/** What a sender's name may hold: it names a file. */
const NAME = /[^A-Za-z0-9._-]/g

/** One message: who sent it (app or tag, else host) and its text, without priority, time or header. */
export function parseMessage(raw) {
  let rest = raw.replace(/[\r\n]+$/, '')
  const pri = /^<(\d{1,3})>/.exec(rest)
  if (!pri) return {host: '', app: '', text: rest}
  rest = rest.slice(pri[0].length)
  const v5424 = /^1 (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(rest)
  if (v5424) {
    let body = rest.slice(v5424[0].length)
    body = skipStructuredData(body)
    return {host: nil(v5424[2]), app: nil(v5424[3]), text: body.replace(/^\uFEFF/, '')}
  }
  // Docker's default format puts a space after the priority and an RFC 3339 time.
  rest = rest.replace(/^ /, '')
  const time = RFC3164_TIME.exec(rest) ?? ISO_TIME.exec(rest)
  if (time) rest = rest.slice(time[0].length)
  // Docker's rfc3164 has no host ("tag[pid]: text"): try that first, or "tag[pid]:" is taken for a host.
  const bare = /^([^\s:[\]]+)(?:\[[^\]]*\])?: ?/.exec(rest)
  if (bare) return {host: '', app: bare[1], text: rest.slice(bare[0].length)}
  const header = /^(\S+) ([^\s:[\]]+)(?:\[[^\]]*\])?: ?/.exec(rest)
  if (!header) return {host: '', app: '', text: rest}
  return {host: header[1], app: header[2], text: rest.slice(header[0].length)}
}

const nil = (field) => (field === '-' ? '' : field)

function skipStructuredData(body) {
  if (body.startsWith('- ')) return body.slice(2)
  if (body === '-') return ''
  let at = 0
  while (body[at] === '[') {
    let quoted = false
    for (at++; at < body.length; at++) {
      if (body[at] === '\\') at++
      else if (body[at] === '"') quoted = !quoted
      else if (body[at] === ']' && !quoted) break
    }
    at++
  }
  return body.slice(at).replace(/^ /, '')
}

/** The name a message is stored under: its app (tag), else its host, else the address it came from. */
export function senderOf(message, address) {
  const name = (message.app || message.host || address || 'unknown').replace(NAME, '_').slice(0, 64)
  return /^\.+$/.test(name) ? '_' : name
}

/** Control characters shown escaped, so a sender can't steer the terminal that reads the collector's output. */
export function printable(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * Splits a TCP stream into messages: a frame starting with digits and a space is octet-counted, anything else ends
 * at a newline. A message longer than `max` is cut there.
 */
export class Framer {
  constructor(max) {
    this.max = max
    this.buffer = Buffer.alloc(0)
    this.skip = 0
  }

  push(chunk) {
    this.buffer = Buffer.concat([this.buffer, this.dropping(chunk)])
    const messages = []
    for (;;) {
      const counted = /^(\d{1,6}) /.exec(this.buffer.subarray(0, 8).toString('latin1'))
      if (counted) {
        const start = counted[0].length
        const end = start + Number(counted[1])
        const cut = Math.min(end, start + this.max)
        if (this.buffer.length < cut) break
        messages.push(this.buffer.subarray(start, cut).toString('utf8'))
        // The rest of an over-long frame is dropped as it arrives.
        this.skip = Math.max(0, end - this.buffer.length)
        this.buffer = this.buffer.subarray(Math.min(end, this.buffer.length))
        continue
      }
      const newline = this.buffer.indexOf(10)
      if (newline >= 0) {
        if (newline > 0) messages.push(this.buffer.subarray(0, Math.min(newline, this.max)).toString('utf8'))
        this.buffer = this.buffer.subarray(newline + 1)
        continue
      }
      if (this.buffer.length >= this.max) {
        messages.push(this.buffer.subarray(0, this.max).toString('utf8'))
        this.buffer = Buffer.alloc(0)
      }
      break
    }
    return messages
  }

  dropping(chunk) {
    const take = Math.min(this.skip, chunk.length)
    this.skip -= take
    return chunk.subarray(take)
  }

  /** A message left without its newline when the sender hung up. */
  end() {
    const last = this.buffer.length > 0 ? this.buffer.toString('utf8') : undefined
    this.buffer = Buffer.alloc(0)
    return last
  }
}
