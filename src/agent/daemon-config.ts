import {DbrokerError} from '../core/errors.js'
import type {RegistrySettings} from '../core/registries.js'

/** dockerd refuses to start when a setting is both a flag and in daemon.json: these flags keep the file's hands off. */
const REGISTRY_FLAGS = ['--registry-mirror', '--insecure-registry']

export function registryFlagsIn(argv: string[]): string[] {
  return REGISTRY_FLAGS.filter((flag) => argv.some((a) => a === flag || a.startsWith(`${flag}=`)))
}

/**
 * daemon.json's text with `registry-mirrors` and `insecure-registries` set to
 * the settings (left out when empty) and every other key as it was; the text
 * unchanged when nothing changes, so an unchanged file is not rewritten.
 */
export function mergeDaemonJson(text: string, settings: RegistrySettings, file: string): string {
  let config: Record<string, unknown> = {}
  if (text.trim() !== '') {
    try {
      config = JSON.parse(text) as Record<string, unknown>
    } catch (error) {
      throw new DbrokerError(`${file} is not valid JSON (${(error as Error).message}): left as it is`)
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config))
      throw new DbrokerError(`${file} does not hold a JSON object: left as it is`)
  }
  const merged = {...config}
  for (const [key, values] of [
    ['registry-mirrors', settings.mirrors],
    ['insecure-registries', settings.insecure],
  ] as const) {
    if (values.length > 0) merged[key] = values
    else delete merged[key]
  }
  if (JSON.stringify(merged) === JSON.stringify(config)) return text
  return JSON.stringify(merged, null, 2) + '\n'
}
