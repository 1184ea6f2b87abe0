import { createHash } from 'node:crypto'
import type { Catalog } from './read.ts'

export type CheckCategory = 'table' | 'column' | 'primary key' | 'foreign key' | 'unique' | 'index' | 'enum' | 'check' | 'trigger' | 'function' | 'sequence'

/** One line of the checklist. */
export interface CheckItem {
  category: CheckCategory | string
  name: string
  ok: boolean
  /** What the schema says, when it differs or is missing. */
  expected?: string
  /** What the database has, when it differs or is unexpected. */
  actual?: string
}

const kindCategory = { p: 'primary key', u: 'unique', f: 'foreign key', c: 'check' } as const
const indexLabel = (i: Catalog['indexes'][number]) =>
  `${i.unique ? 'unique ' : ''}${i.method} (${i.columns.join(', ')})${i.opclasses?.length ? ` ${i.opclasses.join(', ')}` : ''}${i.predicate ? ` where ${i.predicate}` : ''}`

/**
 * Compares every object the expected catalog has with the actual one, by name, and reports objects
 * the actual catalog has beyond that. `ignoreTables` are left out of both (e.g. the history table).
 */
export function compareCatalogs(
  expected: Catalog,
  actual: Catalog,
  ignoreTables: readonly string[] = [],
  extensions: 'exact' | 'required' = 'exact',
): CheckItem[] {
  const items: CheckItem[] = []
  const keep = (table: string) => !ignoreTables.includes(table)
  const compare = <T>(category: string, exp: T[], act: T[], key: (x: T) => string, show: (x: T) => string) => {
    const actual = new Map(act.map((x) => [key(x), x]))
    for (const e of exp) {
      const a = actual.get(key(e))
      actual.delete(key(e))
      const ok = a !== undefined && show(a) === show(e)
      items.push({ category, name: key(e), ok, ...(ok ? { expected: show(e) } : { expected: show(e), actual: a ? show(a) : 'missing' }) })
    }
    for (const [k, a] of actual) items.push({ category, name: k, ok: false, expected: 'absent', actual: `unexpected: ${show(a)}` })
  }

  compare(
    'table',
    expected.tables.filter(keep),
    actual.tables.filter(keep),
    (t) => t,
    () => 'exists',
  )
  const col = (x: Catalog['columns'][number]) => `${x.type}${x.notNull ? ' not null' : ''}${x.default ? ` default ${sameDefault(x.default)}` : ''}`
  const expectedTables = new Set(expected.tables)
  compare(
    'column',
    expected.columns.filter((c) => keep(c.table)),
    actual.columns.filter((c) => keep(c.table) && expectedTables.has(c.table)),
    (c) => `${c.table}.${c.name}`,
    col,
  )
  for (const kind of ['p', 'u', 'f', 'c'] as const) {
    compare(
      kindCategory[kind],
      expected.constraints.filter((c) => c.kind === kind && keep(c.table)),
      actual.constraints.filter((c) => c.kind === kind && keep(c.table)),
      (c) => c.name,
      (c) => `${c.table}: ${c.definition}`,
    )
  }
  compare(
    'index',
    expected.indexes.filter((i) => keep(i.table)),
    actual.indexes.filter((i) => keep(i.table)),
    (i) => i.name,
    (i) => `${i.table} ${indexLabel(i)}`,
  )
  compare(
    'enum',
    expected.enums,
    actual.enums,
    (e) => e.name,
    (e) => e.labels.join(', '),
  )
  compare(
    'trigger',
    expected.triggers.filter((t) => keep(t.table)),
    actual.triggers.filter((t) => keep(t.table)),
    (t) => t.name,
    (t) => t.definition,
  )
  compare(
    'function',
    expected.functions,
    actual.functions,
    (f) => `${f.name}(${f.args})`,
    (f) => `returns ${f.result} language ${f.language}, ${f.body.length} chars: ${hash(f.body)}`,
  )
  compare(
    'sequence',
    expected.sequences,
    actual.sequences,
    (s) => s.name,
    (s) => `${s.type}${s.owner ? ` owned by ${s.owner}` : ''}`,
  )
  // Extensions are one per database: `required` (a live database, where others may have installed
  // theirs) checks only that each expected one is installed; `exact` also reports any other.
  const installed = actual.extensions ?? []
  compare(
    'extension',
    expected.extensions ?? [],
    extensions === 'exact' ? installed : installed.filter((e) => expected.extensions?.includes(e)),
    (e) => e,
    () => 'installed',
  )
  return items
}

/** now() and CURRENT_TIMESTAMP are the same function; legacy databases say one, Prisma writes the other. */
const sameDefault = (expr: string) => expr.replace(/^now\(\)$/, 'CURRENT_TIMESTAMP')

/** A short, stable fingerprint of a function body, so a changed body shows as a changed value. */
const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12)

/**
 * The catalog without the given tables and everything that belongs to them (indexes, keys, triggers,
 * owned sequences, and the functions only their triggers call: another instance's, beside this one).
 */
export function withoutTables(cat: Catalog, tables: readonly string[]): Catalog {
  const keep = (t: string | null) => t === null || !tables.includes(t)
  const called = (tr: Catalog['triggers'][number]) => /EXECUTE (?:FUNCTION|PROCEDURE) (?:[\w$]+\.)?"?([^"(\s]+)"?\(/.exec(tr.definition)?.[1]
  const theirs = new Set(cat.triggers.filter((tr) => !keep(tr.table)).map(called))
  const ours = new Set(cat.triggers.filter((tr) => keep(tr.table)).map(called))
  return {
    tables: cat.tables.filter(keep),
    columns: cat.columns.filter((x) => keep(x.table)),
    constraints: cat.constraints.filter((x) => keep(x.table)),
    foreignKeys: cat.foreignKeys.filter((x) => keep(x.table)),
    indexes: cat.indexes.filter((x) => keep(x.table)),
    enums: cat.enums,
    triggers: cat.triggers.filter((x) => keep(x.table)),
    functions: cat.functions.filter((f) => !theirs.has(f.name) || ours.has(f.name)),
    sequences: cat.sequences.filter((x) => keep(x.owner)),
    comments: cat.comments.filter((x) => keep(x.table)),
    extensions: cat.extensions,
  }
}

/** Foreign keys whose column types differ from their target's (the upstream int-vs-uuid bug). */
export function foreignKeyTypeChecks(actual: Catalog): CheckItem[] {
  return actual.foreignKeys.map((fk) => {
    const ok = fk.columnTypes.join(',') === fk.targetTypes.join(',')
    return {
      category: 'foreign key types',
      name: fk.name,
      ok,
      expected: `${fk.table}(${fk.columnTypes.join(', ')}) = ${fk.targetTable}(${fk.targetTypes.join(', ')})`,
      ...(ok ? {} : { actual: `${fk.columnTypes.join(', ')} ≠ ${fk.targetTypes.join(', ')}` }),
    }
  })
}
