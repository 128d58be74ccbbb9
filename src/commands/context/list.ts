import {BaseCommand} from '../../cli/base-command.js'
import {renderTable} from '../../cli/table.js'

interface ContextRow {
  name: string
  current: boolean
  url: string
  username: string | null
  admin: string | null
}

export default class ContextList extends BaseCommand {
  static override summary = 'List the broker contexts (passwords are never shown)'
  static override aliases = ['context ls']
  static override examples = ['<%= config.bin %> context list', '<%= config.bin %> context list --json']

  async run(): Promise<{file: string; current: string | null; contexts: ContextRow[]}> {
    await this.parse(ContextList)
    const store = this.contexts()
    const data = store.read()
    const rows = Object.entries(data.contexts).map(([name, c]) => ({
      name,
      current: name === data.current,
      url: c.url,
      username: c.username ?? null,
      admin: c.adminUsername ?? null,
    }))
    if (!this.jsonEnabled()) {
      if (rows.length === 0)
        process.stderr.write(
          'no contexts yet: `dbroker up` writes one named local, `dbroker context add` adds others\n',
        )
      else
        process.stdout.write(
          renderTable(rows, [
            {header: '', value: (r) => (r.current ? '*' : '')},
            {header: 'name', value: (r) => r.name},
            {header: 'url', value: (r) => r.url},
            {header: 'user', value: (r) => r.username ?? '-'},
            {header: 'admin', value: (r) => r.admin ?? '-'},
          ]),
        )
    }
    return {file: store.file, current: data.current ?? null, contexts: rows}
  }
}
