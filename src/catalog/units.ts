/** Parses sizes like `256m`, `1g`, `512k` or a byte count. */
export function parseBytes(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.floor(value) : undefined
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value.trim())
  if (!match) return undefined
  const scale = {'': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4}[
    match[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ]
  return Math.floor(Number(match[1]) * scale)
}

/** Parses durations like `500ms`, `30s`, `10m`, `1h` or milliseconds as a number. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(value.trim())
  if (!match) return undefined
  return Number(match[1]) * {ms: 1, s: 1000, m: 60_000, h: 3_600_000}[match[2] as 'ms' | 's' | 'm' | 'h']
}

/** The disk sizes an agent makes (mkfs.ext4 needs room for its journal); the agent's own check says the same. */
export const MIN_DISK_BYTES = 16 * 1024 ** 2
export const MAX_DISK_BYTES = 16 * 1024 ** 4
