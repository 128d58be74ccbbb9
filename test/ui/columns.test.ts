import {describe, expect, it} from 'vitest'

import {footerKeys} from '../../src/ui/top/chrome.js'
import {copyToClipboard} from '../../src/ui/top/clipboard.js'
import {layoutColumns, sortMark} from '../../src/ui/top/columns.js'
import {HOST_COLUMNS} from '../../src/ui/top/hosts-panel.js'
import {INSTANCE_COLUMNS, innerWidth} from '../../src/ui/top/instances-panel.js'
import {initialTopState, topReducer} from '../../src/ui/top/state.js'

const ids = (width: number, columns = INSTANCE_COLUMNS) => layoutColumns(columns, innerWidth(width)).map((c) => c.id)
const used = (width: number, columns = INSTANCE_COLUMNS) => {
  const placed = layoutColumns(columns, innerWidth(width))
  return placed.reduce((sum, c) => sum + c.width, 0) + placed.length - 1
}

describe("top's columns", () => {
  it('at 80 columns keep the essentials and drop service, history and host first', () => {
    expect(ids(80)).toEqual(['name', 'health', 'endpoint', 'restarts', 'uptime', 'cpu', 'memory'])
    expect(ids(60)).toEqual(['name', 'health', 'endpoint', 'restarts', 'cpu', 'memory'])
    expect(ids(120)).toEqual(expect.arrayContaining(['history', 'membar', 'exit']))
    expect(ids(160)).toEqual(INSTANCE_COLUMNS.map((c) => c.id))
  })

  it('never use more than the panel is wide, and give what is left to the growing columns', () => {
    for (const width of [80, 100, 120, 160, 200]) {
      expect(used(width)).toBeLessThanOrEqual(innerWidth(width))
      expect(used(width, HOST_COLUMNS)).toBeLessThanOrEqual(innerWidth(width))
    }
    expect(used(80)).toBe(innerWidth(80))
    expect(layoutColumns(INSTANCE_COLUMNS, innerWidth(200)).find((c) => c.id === 'name')!.width).toBe(28)
  })

  it('hosts at 80 columns drop logging and mirrors first', () => {
    expect(ids(80, HOST_COLUMNS)).not.toContain('logging')
    expect(ids(80, HOST_COLUMNS)).not.toContain('mirrors')
    expect(ids(80, HOST_COLUMNS)).toEqual(expect.arrayContaining(['id', 'status', 'beat', 'containers']))
  })

  it('mark the sorted column in the direction its rows run', () => {
    const cpu = INSTANCE_COLUMNS.find((c) => c.id === 'cpu')!
    const name = INSTANCE_COLUMNS.find((c) => c.id === 'name')!
    expect(sortMark(cpu, 'cpu', false)).toBe('▼')
    expect(sortMark(cpu, 'cpu', true)).toBe('▲')
    expect(sortMark(name, 'name', false)).toBe('▲')
    expect(sortMark(name, 'cpu', false)).toBe('')
  })
})

describe("top's sort and footer", () => {
  it('sort-by picks a column, and the same column again reverses it', () => {
    const byCpu = topReducer(initialTopState, {type: 'sort-by', key: 'cpu'})
    expect([byCpu.sort, byCpu.sortReverse]).toEqual(['cpu', false])
    const reversed = topReducer(byCpu, {type: 'sort-by', key: 'cpu'})
    expect([reversed.sort, reversed.sortReverse]).toEqual(['cpu', true])
    expect(topReducer(reversed, {type: 'sort-by', key: 'memory'}).sortReverse).toBe(false)
    expect(topReducer(reversed, {type: 'sort'}).sortReverse).toBe(false)
  })

  it('the footer keeps help and quit at any width, and fills the rest in order', () => {
    for (const width of [30, 60, 80, 200]) {
      const keys = footerKeys('list', false, width).map(([key]) => key)
      expect(keys).toContain('?')
      expect(keys).toContain('q')
    }
    expect(footerKeys('list', false, 20).map(([key]) => key)).toEqual(['?', 'q'])
    expect(footerKeys('list', false, 200).length).toBeGreaterThan(footerKeys('list', false, 80).length)
    expect(footerKeys('list', true, 200).map(([key]) => key)).not.toContain('d')
  })
})

describe('the OSC 52 clipboard', () => {
  it('sends the text base64-encoded in one OSC 52 sequence for the clipboard selection', () => {
    const written: string[] = []
    copyToClipboard({write: (data: string) => written.push(data)}, 'redis://u:p@h:1')
    expect(written).toEqual([`\u001B]52;c;${Buffer.from('redis://u:p@h:1').toString('base64')}\u0007`])
  })
})
