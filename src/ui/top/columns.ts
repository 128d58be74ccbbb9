import {fit, isDescending, type SortKey} from './model.js'

/** One column of a list panel, declared as data: what it shows is the panel's, how wide it is is decided here. */
export interface Column {
  id: string
  header: string
  width: number
  /** 0 is always shown; at a narrow width the highest numbers go first. */
  priority: number
  /** Takes the width left over, up to this many columns in all. */
  growTo?: number
  align?: 'left' | 'right'
  /** The sort this column's header shows the direction of. */
  sort?: SortKey
}

export interface PlacedColumn extends Column {
  width: number
}

const GAP = 1

/**
 * The columns that fit in `width`, in their declared order: every priority-0 column,
 * then the others by priority while they fit; what is left widens the growing columns.
 */
export function layoutColumns(columns: Column[], width: number): PlacedColumn[] {
  const used = (chosen: Column[]) => chosen.reduce((sum, c) => sum + c.width, 0) + GAP * Math.max(0, chosen.length - 1)
  const chosen = new Set(columns.filter((c) => c.priority === 0))
  const optional = columns.filter((c) => c.priority > 0).sort((a, b) => a.priority - b.priority)
  for (const column of optional) {
    const trial = columns.filter((c) => chosen.has(c) || c === column)
    if (used(trial) <= width) chosen.add(column)
  }
  const placed = columns.filter((c) => chosen.has(c)).map((c) => ({...c}))
  let left = width - used(placed)
  for (const column of placed) {
    if (left <= 0) break
    const extra = Math.min(left, Math.max(0, (column.growTo ?? column.width) - column.width))
    column.width += extra
    left -= extra
  }
  return placed
}

/** ▲ or ▼ when the list is sorted by this column, in the direction its rows run; '' otherwise. */
export function sortMark(column: Column, sort: SortKey, reverse: boolean): string {
  if (column.sort !== sort) return ''
  return isDescending(sort, reverse) ? '▼' : '▲'
}

/** A header cell: the column's name, with its sort mark. */
export const headerText = (column: Column, sort: SortKey, reverse: boolean) =>
  `${column.header}${sortMark(column, sort, reverse)}`

/** A cell of the column's width, aligned as the column says. */
export const cellText = (text: string, column: PlacedColumn) =>
  column.align === 'right' ? fit(text, column.width).trimEnd().padStart(column.width) : fit(text, column.width)
