import { splitScript } from '../adopt/steps.ts'
import type { GeneratedMigration, MigrationScript } from './generate.ts'
import { oneLine, parseStatements, type SqlNode } from './statements.ts'

/** One migration of what `migrate new` writes, before it is named and linted: its scripts. */
export interface Part {
  suffix?: string
  /** A CREATE INDEX CONCURRENTLY alone (`migrate new --concurrently`): it runs outside a transaction. */
  noTransaction?: boolean
  up: MigrationScript
  down: MigrationScript
}

const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s)
const quote = (s: string) => `"${s.replace(/"/g, '""')}"`
const text = (bs: { kind: string; sql: string }[]) => bs.map((b) => `-- ${b.kind}\n${b.sql}\n`).join('\n')

/** The check that stands for NOT NULL while it is validated: `<table>_<column>_not_null_check` (PostgreSQL 18 names its NOT NULL constraints `…_not_null`). */
export const notNullCheckName = (table: string, column: string) => `${table}_${column}`.slice(0, 63 - '_not_null_check'.length) + '_not_null_check'

/** One constraint (a FK or a CHECK) on an existing table, added NOT VALID here and validated in the next migration. */
interface Deferred {
  table: string
  name: string
  /** The ADD CONSTRAINT statement, NOT VALID. */
  add: string
}

const ADD_CONSTRAINT = /^ALTER TABLE ("(?:[^"]|"")+") ADD CONSTRAINT ("(?:[^"]|"")+") ((?:FOREIGN KEY|CHECK)\b[\s\S]*?);?\s*$/

/** A single ADD CONSTRAINT … FOREIGN KEY / CHECK statement on an existing table, as NOT VALID (undefined for anything else). */
function deferrable(sql: string, existing: ReadonlySet<string>): Deferred | undefined {
  const m = ADD_CONSTRAINT.exec(sql.trim())
  if (!m || /\bNOT\s+VALID\s*;?\s*$/i.test(m[3]) || !existing.has(unquote(m[1]))) return undefined
  return { table: m[1], name: m[2], add: `ALTER TABLE ${m[1]} ADD CONSTRAINT ${m[2]} ${m[3]} NOT VALID;` }
}

/** Prisma's AlterTable statement without its SET NOT NULL actions on existing columns; the columns they were for. */
function withoutSetNotNull(sql: string, existing: ReadonlySet<string>): { sql: string; columns: { table: string; column: string }[] } {
  const out: string[] = []
  const columns: { table: string; column: string }[] = []
  for (const st of parseStatements(sql)) {
    const table = st.children.find((c) => c.kind === 'TABLE_RELATION_NAME')?.text.trim() ?? ''
    if (st.kind !== 'ALTER_TABLE' || !/^"(?:[^"]|"")+"$/.test(table) || !existing.has(unquote(table))) {
      out.push(st.text.trim())
      continue
    }
    const actions = st.children.filter(
      (c) => /^[A-Z_]+$/.test(c.kind) && !/^(TABLE_RELATION_NAME|WHITESPACE|COMMENT|COMMA|SEMICOLON)$/.test(c.kind) && !c.kind.endsWith('_KW'),
    )
    const isSetNotNull = (a: SqlNode) => a.kind === 'ALTER_COLUMN' && a.children.some((c) => c.kind === 'SET_NOT_NULL')
    const kept = actions.filter((a) => !isSetNotNull(a))
    for (const a of actions.filter(isSetNotNull)) columns.push({ table, column: a.children.find((c) => c.kind === 'COLUMN_NAME_REF')?.text.trim() ?? '' })
    if (kept.length === actions.length) out.push(st.text.trim())
    else if (kept.length) out.push(`ALTER TABLE ${table} ${kept.map((a) => oneLine(a.text)).join(',\n')};`)
  }
  return { sql: out.join('\n'), columns }
}

/**
 * The safe forms of what Prisma's diff does to tables that exist before the migration (see README "A
 * rewrite guard at deploy time"): each new foreign key, and each CHECK of the extras, is added NOT
 * VALID, and validated in a migration of its own that follows (`<name>_validate`: VALIDATE CONSTRAINT
 * takes SHARE UPDATE EXCLUSIVE, so reads and writes go on while it scans); each SET NOT NULL of an
 * existing column becomes a CHECK (column IS NOT NULL) NOT VALID here, and in the following migration
 * VALIDATE CONSTRAINT, SET NOT NULL (PostgreSQL then skips its scan: the valid check proves it) and the
 * check dropped. Each down.sql returns the catalog from before its migration. A type change and a
 * volatile default stay as Prisma writes them: their safe form is a new column and a backfill, a
 * change of the schema itself. Without any of these, `first` comes back alone.
 */
export function withSafeForms(g: GeneratedMigration, first: Part, name: string): Part[] {
  const existing = new Set(g.before.tables)
  const deferred: Deferred[] = []
  const notNull: { table: string; column: string; check: string }[] = []
  const blocks = splitScript(first.up.prisma).map((b) => {
    const d = b.kind === 'AddForeignKey' ? deferrable(b.sql, existing) : undefined
    if (d) {
      deferred.push(d)
      return { ...b, sql: d.add }
    }
    if (b.kind !== 'AlterTable') return b
    const { sql, columns } = withoutSetNotNull(b.sql, existing)
    const adds = columns.map((c) => {
      const check = quote(notNullCheckName(unquote(c.table), unquote(c.column)))
      notNull.push({ ...c, check })
      return `ALTER TABLE ${c.table} ADD CONSTRAINT ${check} CHECK (${c.column} IS NOT NULL) NOT VALID;`
    })
    return { ...b, sql: [sql, ...adds].filter(Boolean).join('\n') }
  })
  const extras = first.up.extras.map((s) => {
    const d = deferrable(s.sql, existing)
    if (!d) return s
    deferred.push(d)
    return { ...s, sql: d.add }
  })
  if (!deferred.length && !notNull.length) return [first]
  const up = [
    ...deferred.map((d) => `ALTER TABLE ${d.table} VALIDATE CONSTRAINT ${d.name};`),
    ...notNull.flatMap((c) => [
      `ALTER TABLE ${c.table} VALIDATE CONSTRAINT ${c.check};`,
      `ALTER TABLE ${c.table} ALTER COLUMN ${c.column} SET NOT NULL;`,
      `ALTER TABLE ${c.table} DROP CONSTRAINT ${c.check};`,
    ]),
  ]
  const down = [
    ...notNull.flatMap((c) => [
      `ALTER TABLE ${c.table} ALTER COLUMN ${c.column} DROP NOT NULL;`,
      `ALTER TABLE ${c.table} ADD CONSTRAINT ${c.check} CHECK (${c.column} IS NOT NULL) NOT VALID;`,
    ]),
    ...deferred.flatMap((d) => [`ALTER TABLE ${d.table} DROP CONSTRAINT ${d.name};`, d.add]),
  ]
  const firstDown = notNull.map((c) => ({
    kind: 'Extra' as const,
    sql: `ALTER TABLE ${c.table} DROP CONSTRAINT ${c.check};`,
    safety: 'safe' as const,
    reason: `the check that stood for NOT NULL of ${unquote(c.column)} until ${name}_validate`,
    table: unquote(c.table),
  }))
  return [
    { ...first, up: { prisma: text(blocks), extras }, down: { ...first.down, extras: [...first.down.extras, ...firstDown] } },
    {
      suffix: 'validate',
      up: { prisma: `-- ValidateConstraint\n${up.join('\n')}\n`, extras: [] },
      down: { prisma: `-- InvalidateConstraint\n${down.join('\n')}\n`, extras: [] },
    },
  ]
}
