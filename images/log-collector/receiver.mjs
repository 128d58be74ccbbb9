// dbroker's log collector: receives syslog (RFC 5424 and 3164) over UDP and TCP, keeps each sender's lines in
// its own file under /data and prints every line as "sender text" on stdout, so the engine's logs of this
// container (`dbroker logs`) carry them.
import {appendFileSync, chownSync, mkdirSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {createSocket} from 'node:dgram'
import {createServer} from 'node:net'
import path from 'node:path'

import {Framer, parseMessage, printable, senderOf} from './syslog.mjs'

const env = (name, fallback) => Number(process.env[name] ?? fallback)
const PORT = env('COLLECTOR_PORT', 5514)
const DATA = process.env.COLLECTOR_DATA ?? '/data'
/** Longer messages are cut: a sender can't make the collector hold more than this per connection. */
const MAX_MESSAGE = env('COLLECTOR_MAX_MESSAGE', 8192)
/** A sender's file is rotated (one old file kept) at this size. */
const MAX_FILE = env('COLLECTOR_MAX_FILE_BYTES', 10 * 1024 * 1024)
/** Beyond this many senders, lines go to `_other.log`: made-up names can't fill the disk with files. */
const MAX_SENDERS = env('COLLECTOR_MAX_SENDERS', 1000)
const MAX_CONNECTIONS = env('COLLECTOR_MAX_CONNECTIONS', 256)
const READY = process.env.COLLECTOR_READY_FILE ?? '/tmp/collector.ready'

const senders = new Map()

function store(raw, address) {
  const message = parseMessage(raw)
  let sender = senderOf(message, address)
  if (!senders.has(sender) && senders.size >= MAX_SENDERS) sender = '_other'
  const text = printable(message.text)
  process.stdout.write(`${sender} ${text}\n`)
  const file = path.join(DATA, `${sender}.log`)
  const written = (senders.get(sender) ?? sizeOf(file)) + Buffer.byteLength(text) + 1
  if (written > MAX_FILE) {
    renameSync(file, `${file}.1`)
    senders.set(sender, Buffer.byteLength(text) + 1)
  } else senders.set(sender, written)
  appendFileSync(file, `${text}\n`)
}

function sizeOf(file) {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

function safely(receive) {
  try {
    receive()
  } catch (error) {
    process.stderr.write(`collector: cannot store a line: ${error.message}\n`)
  }
}

// Started as root to own its data directory (a fresh volume or disk is root's), then runs as nobody.
if (process.getuid?.() === 0) {
  mkdirSync(DATA, {recursive: true})
  chownSync(DATA, 65534, 65534)
  process.setgid(65534)
  process.setuid(65534)
}

const udp = (type) => {
  const socket = createSocket({type, reuseAddr: true})
  socket.on('message', (datagram, from) =>
    safely(() => store(datagram.subarray(0, MAX_MESSAGE).toString('utf8'), from.address)),
  )
  socket.on('error', (error) => process.stderr.write(`collector: ${type}: ${error.message}\n`))
  return new Promise((resolve) => socket.bind(PORT, type === 'udp6' ? '::' : '0.0.0.0', resolve))
}

const tcp = createServer((connection) => {
  const framer = new Framer(MAX_MESSAGE)
  const address = connection.remoteAddress?.replace(/^::ffff:/, '')
  connection.on('data', (chunk) => safely(() => framer.push(chunk).forEach((m) => store(m, address))))
  connection.on('end', () => {
    const last = framer.end()
    if (last) safely(() => store(last, address))
  })
  connection.on('error', () => connection.destroy())
})
tcp.maxConnections = MAX_CONNECTIONS

await Promise.all([udp('udp4'), new Promise((resolve) => tcp.listen(PORT, '0.0.0.0', resolve))])
writeFileSync(READY, `${PORT}\n`)
process.stderr.write(`collector: listening for syslog on ${PORT}/tcp and ${PORT}/udp, lines kept in ${DATA}\n`)

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
