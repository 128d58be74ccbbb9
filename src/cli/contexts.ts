import {chmodSync, existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import type {BrokerTarget} from '../client/broker-client.js'
import {DbrokerError, UsageError} from '../core/errors.js'
import {upLogFile} from './detach.js'

export interface BrokerContext {
  url: string
  username?: string
  password?: string
  adminUsername?: string
  adminPassword?: string
  /** Written by `dbroker up`: its data dir and pid, so `dbroker down` finds the `up` behind the context. */
  dataDir?: string
  pid?: number
  /** Written by `dbroker up`: the `dbroker up --detach ...` that starts it again as it was. */
  startCommand?: string
}

export interface ContextsFile {
  current?: string
  contexts: Record<string, BrokerContext>
}

export const LOCAL_CONTEXT = 'local'
const FILE = 'contexts.json'

/**
 * The named brokers the CLI talks to, in oclif's config dir with mode 0600.
 * Writes go through conf; reads parse the same file directly, because
 * importing conf costs ~0.2 s and `dbroker bind` must start fast.
 */
export class ContextStore {
  readonly file: string

  constructor(readonly configDir: string) {
    this.file = path.join(configDir, FILE)
  }

  read(): ContextsFile {
    if (!existsSync(this.file)) return {contexts: {}}
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<ContextsFile>
      return {current: data.current, contexts: data.contexts ?? {}}
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EACCES')
        throw new DbrokerError(
          `cannot read ${this.file}: permission denied`,
          `fix its owner or mode (chmod 600 ${this.file})`,
        )
      throw new DbrokerError(
        `the contexts file ${this.file} is not valid JSON`,
        `fix it, or remove it and add the contexts again`,
      )
    }
  }

  /** Applies a change to the file through conf and keeps its mode 0600. */
  async update(change: (data: ContextsFile) => void): Promise<ContextsFile> {
    const data = this.read()
    change(data)
    const {default: Conf} = await import('conf')
    try {
      const conf = new Conf<ContextsFile>({
        projectName: 'dbroker',
        projectSuffix: '',
        cwd: this.configDir,
        configName: 'contexts',
        configFileMode: 0o600,
        clearInvalidConfig: false,
      })
      conf.store = data.current === undefined ? {contexts: data.contexts} : data
      chmodSync(this.file, 0o600)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM')
        throw new DbrokerError(`cannot write ${this.file}: permission denied`, `check the owner of ${this.configDir}`)
      throw error
    }
    return data
  }

  /** Adds or replaces a context; with `replace: false` one that exists is an error naming its URL. */
  async set(name: string, context: BrokerContext, options: {use?: boolean; replace?: boolean} = {}): Promise<void> {
    await this.update((data) => {
      const existing = data.contexts[name]
      if (existing && options.replace === false)
        throw new DbrokerError(
          `context ${name} exists (${existing.url}); nothing changed`,
          `replace it with --force, or pick another name (\`dbroker context list\`)`,
        )
      data.contexts[name] = context
      if (options.use || !data.current) data.current = name
    })
  }

  async use(name: string): Promise<void> {
    await this.update((data) => {
      if (!data.contexts[name])
        throw new UsageError(`there is no context ${name}`, `list them with \`dbroker context list\``)
      data.current = name
    })
  }

  async remove(name: string): Promise<void> {
    await this.update((data) => {
      if (!data.contexts[name])
        throw new UsageError(`there is no context ${name}`, `list them with \`dbroker context list\``)
      delete data.contexts[name]
      if (data.current === name) data.current = Object.keys(data.contexts)[0]
    })
  }
}

/**
 * The broker a command talks to: --context, else DBROKER_CONTEXT, else the
 * current context; DBROKER_URL, DBROKER_USERNAME, DBROKER_PASSWORD and
 * DBROKER_ADMIN_* override its fields (and work with no context at all).
 */
export function resolveTarget(
  store: ContextStore,
  name: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): BrokerTarget {
  const data = store.read()
  const chosen = name ?? env.DBROKER_CONTEXT ?? data.current
  const context = chosen ? data.contexts[chosen] : undefined
  if (chosen && !context && (name || !env.DBROKER_URL)) {
    throw new UsageError(
      `there is no context ${chosen}`,
      'list them with `dbroker context list`, or add one with `dbroker context add`',
    )
  }
  const url = env.DBROKER_URL || context?.url
  if (!url)
    throw new UsageError(
      'no broker is configured',
      'start one with `dbroker up --detach`, add one with `dbroker context add NAME --url URL`, or set DBROKER_URL',
    )
  return {
    url,
    username: env.DBROKER_USERNAME || context?.username,
    password: env.DBROKER_PASSWORD || context?.password,
    adminUsername: env.DBROKER_ADMIN_USERNAME || context?.adminUsername,
    adminPassword: env.DBROKER_ADMIN_PASSWORD || context?.adminPassword,
    context: context ? chosen : undefined,
    startCommand: env.DBROKER_URL ? undefined : context?.startCommand,
    ...(env.DBROKER_URL || !context?.dataDir ? {} : {logFile: upLogFile(context.dataDir)}),
  }
}
